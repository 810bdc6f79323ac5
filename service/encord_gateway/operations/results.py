"""Named result steps: what the few operations declaring `result_handler` do with Encord's answer.

Everything else maps answers mechanically (plan/wiremap). A step may also check the request before
any upstream call, so that nothing is created upstream that the gateway would then refuse to keep.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import message

from .._generated.encord.gateway.v1 import common_pb2
from ..errors import invalid_argument
from ..upstream.credentials import CredentialResolver
from ..upstream.errors import malformed
from ..vault.credentials import RESOURCE_SCOPES, Vault, validate_scopes
from ..vault.errors import CredentialExistsError, InvalidKeyError, InvalidScopeError
from .catalog import OperationSpec
from .descriptors import member
from .engine import CallContext
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
