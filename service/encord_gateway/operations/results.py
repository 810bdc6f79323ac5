"""Named result steps: what the few operations declaring `result_handler` do with Encord's answer.

Everything else maps answers mechanically (plan/wiremap). A step may also check the request before
any upstream call, so that nothing is created upstream that the gateway would then refuse to keep.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf import json_format, message

from .._generated.encord.gateway.v1 import common_pb2
from ..errors import GatewayError, invalid_argument
from ..upstream.credentials import CredentialResolver
from ..upstream.errors import malformed
from ..vault.credentials import RESOURCE_SCOPES, Vault, validate_scopes
from ..vault.errors import CredentialExistsError, InvalidKeyError, InvalidScopeError
from . import coco
from .catalog import OperationSpec
from .descriptors import member
from .engine import CallContext, LocalStep
from .refs import Scope
from .resources import RESOURCE_KIND

MASTER_KEY_TITLE = "master"
"""Encord's get-or-create answers (K-03) carry no title; the gateway records the key as the master key."""


class ResultStep(Protocol):
    def check(self, spec: OperationSpec, request: message.Message) -> None: ...

    async def finish(
        self, spec: OperationSpec, result: Any, request: message.Message, ctx: CallContext
    ) -> message.Message: ...


@dataclass(frozen=True)
class _Key:
    secret: str
    title: str
    scopes: tuple[str, ...]


class StoreResourceApiKeys:
    """Keep the project or dataset API keys in an answer in the vault; answer with their metadata only.

    One step for every call that hands out keys (§5.12): a new key (K-01 a bare string, K-04 an
    object), the keys of a resource (K-02, K-05: a list), the master key (K-03 a string, K-06 an
    object). Scopes come from the answer, else the request, else (a master key) every scope of the kind.
    """

    def __init__(self, vault: Vault, resolver: CredentialResolver) -> None:
        self._vault = vault
        self._resolver = resolver

    @staticmethod
    def _resource(spec: OperationSpec, request: message.Message) -> tuple[str, str]:
        assert spec.operation is not None
        kind = RESOURCE_KIND[spec.operation.resource_type] or ""
        assert kind in RESOURCE_SCOPES, f"{spec.full_name}: API keys exist for projects and datasets only"
        return kind, str(getattr(request, spec.operation.resource_field))

    def check(self, spec: OperationSpec, request: message.Message) -> None:
        kind, _ = self._resource(spec, request)
        if "scopes" in request.DESCRIPTOR.fields_by_name:
            try:
                validate_scopes(kind, _requested_scopes(request))
            except InvalidScopeError as exc:
                raise invalid_argument([("scopes", str(exc))]) from None

    async def finish(
        self, spec: OperationSpec, result: Any, request: message.Message, ctx: CallContext
    ) -> message.Message:
        kind, resource_hash = self._resource(spec, request)
        label = f"{spec.full_name} answer"
        answers = result if isinstance(result, list) else [result]
        keys = [_key(answer, kind, request, label) for answer in answers]
        stored = [await self._store(ctx.organisation, kind, resource_hash, key, label) for key in keys]
        self._resolver.forget(ctx.organisation)  # a cached "no API key here" must not outlive this
        response = spec.response_class()
        if "api_keys" in response.DESCRIPTOR.fields_by_name:
            member(response, "api_keys").extend(stored)
            return response
        if len(stored) != 1:
            raise malformed("expected one API key in the answer", label=label)
        response.CopyFrom(stored[0])
        return response

    async def _store(
        self, organisation: str, kind: str, resource_hash: str, key: _Key, label: str
    ) -> common_pb2.ResourceApiKey:
        metadata = common_pb2.ResourceApiKey(
            resource_type=kind, resource_hash=resource_hash, title=key.title, scopes=list(key.scopes)
        )
        try:
            info = await asyncio.to_thread(
                self._vault.register_resource_api_key, organisation, kind, resource_hash, key.secret, key.scopes
            )
        except CredentialExistsError:
            # Already kept, with the scopes an operator registered it with: the vault's record stands.
            return metadata
        except InvalidKeyError as exc:  # control characters, megabytes: not a key (the message never quotes it)
            raise malformed(f"the API key in the answer is not usable: {exc}", label=label) from None
        metadata.credential_id = info.credential_id
        metadata.scopes[:] = list(info.scopes)
        metadata.created_at.FromDatetime(info.created_at)
        return metadata


def _requested_scopes(request: message.Message) -> list[str]:
    fields = request.DESCRIPTOR.fields_by_name
    return [str(scope) for scope in member(request, "scopes")] if "scopes" in fields else []


def _scopes_of(raw: Any) -> list[str] | None:
    if isinstance(raw, str):  # Encord may send the list as JSON text (§5.12)
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if isinstance(raw, list) and all(isinstance(scope, str) for scope in raw):
        return list(raw)
    return None


def _key(answer: Any, kind: str, request: message.Message, label: str) -> _Key:
    fields = request.DESCRIPTOR.fields_by_name
    title = str(member(request, "title")) if "title" in fields else ""
    scopes = _requested_scopes(request)
    if isinstance(answer, dict):
        secret = answer.get("api_key")
        answered_title = answer.get("title")
        title = answered_title if isinstance(answered_title, str) else title
        scopes = _scopes_of(answer.get("scopes")) or scopes
    else:
        secret = answer
    if not isinstance(secret, str) or not secret:
        raise malformed("no API key in the answer", label=label)
    try:
        valid = validate_scopes(kind, scopes or list(RESOURCE_SCOPES[kind]))
    except InvalidScopeError as exc:
        raise malformed(f"the answer's scopes are not {kind} scopes: {exc}", label=label) from None
    return _Key(secret, title or MASTER_KEY_TITLE, tuple(valid))


def result_steps(vault: Vault, resolver: CredentialResolver) -> dict[str, ResultStep]:
    return {"store_resource_api_keys": StoreResourceApiKeys(vault, resolver)}


# ---- local steps: COCO (P-26, P-27) ----------------------------------------------------------------


def _coco_errors(compute: Callable[[Scope], Any]) -> Callable[[Scope], Any]:
    """A conversion's refusal as the caller's error: the input named, or the missing rasteriser."""

    def guarded(scope: Scope) -> Any:
        try:
            return compute(scope)
        except coco.CocoError as exc:
            raise invalid_argument([(exc.field, exc.reason)]) from None
        except coco.CocoUnavailable as exc:
            raise GatewayError(grpc.StatusCode.FAILED_PRECONDITION, str(exc), reason="COCO_UNAVAILABLE") from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a document not shaped as Encord's
            raise malformed(f"a label-row document cannot be converted: {exc!r}", label="coco") from None

    return guarded


def _answer_list(scope: Scope, *names: str) -> list[dict[str, Any]]:
    """The joined answers of the named (gathered) steps that ran, each a list of JSON objects."""
    found: list[dict[str, Any]] = []
    for name in names:
        value = scope.results.get(name)
        if isinstance(value, list):
            found += [item for item in value if isinstance(item, dict)]
        elif value is not None:
            raise malformed(f"the {name!r} answer is not a list", label="coco")
    return found


def _structure(scope: Scope) -> dict[str, Any]:
    ontology = scope.results.get("ontology")
    structure = ontology.get("editor") if isinstance(ontology, dict) else None
    if not isinstance(structure, dict):
        raise malformed("the ontology answer has no editor (its structure)", label="coco")
    return structure


def _rows(scope: Scope) -> list[dict[str, Any]]:
    rows = scope.results.get("rows")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise malformed("the label-row listing is not a list of rows", label="coco")
    return rows


def _in_row_order(rows: list[dict[str, Any]], documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's document (read by label hash, or created by data hash), in the listing's order."""
    by_label = {d.get("label_hash"): d for d in documents}
    by_data = {d.get("data_hash"): d for d in documents}
    ordered = []
    for row in rows:
        document = by_label.get(row.get("label_hash")) if row.get("label_hash") else by_data.get(row.get("data_hash"))
        if document is not None:
            ordered.append(document)
    return ordered


def _converted(export: coco.CocoExport, documents: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    try:
        return export.rows(documents)
    except (coco.CocoError, KeyError, TypeError, ValueError) as exc:  # a document not shaped as Encord's
        raise malformed(f"a label-row document cannot be converted: {exc}", label="coco") from None


def split_rows(scope: Scope) -> Any:
    """The listed rows that have a label row (read, L-03) and those that have none yet (created, L-05)."""
    rows = _rows(scope)
    return {
        "labelled": [row for row in rows if row.get("label_hash")],
        "unlabelled": [row for row in rows if not row.get("label_hash")],
    }


def export_coco(scope: Scope) -> Any:
    """The whole COCO document of the rows read and created."""
    documents = _in_row_order(_rows(scope), _answer_list(scope, "documents", "created_first", "created"))
    export = coco.CocoExport(_structure(scope))
    head = export.head(str(documents[0].get("data_title")) if documents else None)
    images, annotations = _converted(export, documents)
    return {**head, "images": images, "annotations": annotations}


def export_coco_head(scope: Scope) -> Any:
    """The first part of a streamed document: `info` and `categories`."""
    rows = _rows(scope)
    return coco.CocoExport(_structure(scope)).head(str(rows[0].get("data_title")) if rows else None)


@_coco_errors
def import_coco_plan(scope: Scope) -> Any:
    """The caller's COCO checked before any call, and the data units it writes to (L-01's filter)."""
    return {"data_hashes": _import_plan(scope.request).data_hashes}


@_coco_errors
def import_coco_labels(scope: Scope) -> Any:
    """The documents to save (L-07), each with the annotations placed on it."""
    documents = _answer_list(scope, "documents", "created_first", "created")
    return coco.import_documents(_import_plan(scope.request), _structure(scope), _rows(scope), documents)


def _import_plan(request: message.Message) -> coco.CocoImport:
    document = json_format.MessageToDict(member(request, "coco"))
    categories = {int(k): str(v) for k, v in member(request, "category_feature_hashes").items()}
    frames = {int(f.image_id): coco.Frame(str(f.data_hash), int(f.frame)) for f in member(request, "image_frames")}
    return coco.parse_import(document, categories, frames, str(member(request, "confidence_field_name")))


@dataclass(frozen=True)
class _Computed:
    """A local step that is a function of the scope."""

    function: Callable[[Scope], Any]

    def compute(self, scope: Scope) -> Any:
        return self.function(scope)

    def emit(self, chunk: list[Any], answer: Any, scope: Scope, state: dict[str, Any]) -> list[Any]:
        raise TypeError(f"{self.function.__name__} is a local step, not an emit handler")


class CocoBatches:
    """StreamCocoLabels' emit handler: a batch of rows as one COCO part, numbered on from earlier batches."""

    def compute(self, scope: Scope) -> Any:
        raise TypeError("coco_export_rows is an emit handler, not a local step")

    def emit(self, chunk: list[Any], answer: Any, scope: Scope, state: dict[str, Any]) -> list[Any]:
        export = state.get("export")
        if export is None:
            export = state["export"] = coco.CocoExport(_structure(scope))
            export.head(None)  # numbers the categories
        read = [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []
        documents = _in_row_order(chunk, [*read, *_answer_list(scope, "created")])
        images, annotations = _converted(export, documents)
        return [{"images": images, "annotations": annotations}] if images or annotations else []


def local_steps() -> dict[str, LocalStep]:
    """The named local steps plans may run between their wire calls (options.proto: `local`, `emit_handler`)."""
    return {
        "coco_split_rows": _Computed(split_rows),
        "coco_export": _Computed(export_coco),
        "coco_export_head": _Computed(export_coco_head),
        "coco_export_rows": CocoBatches(),
        "coco_import_plan": _Computed(import_coco_plan),
        "coco_import_labels": _Computed(import_coco_labels),
    }
