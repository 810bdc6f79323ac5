"""Named result steps: what the few operations declaring `result_handler` do with Encord's answer.

Everything else maps answers mechanically (wiremap). A step may also check the request before any
upstream call, so that nothing is created upstream that the gateway would then refuse to keep.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from google.protobuf import message

from .._generated.encord.gateway.v1 import common_pb2
from ..errors import invalid_argument
from ..upstream.credentials import CredentialResolver
from ..upstream.errors import malformed
from ..vault.credentials import Vault, validate_scopes
from ..vault.errors import InvalidScopeError
from .catalog import OperationSpec
from .engine import CallContext
from .resources import RESOURCE_KIND


class ResultStep(Protocol):
    def check(self, spec: OperationSpec, request: message.Message) -> None: ...

    async def finish(
        self, spec: OperationSpec, result: Any, request: message.Message, ctx: CallContext
    ) -> message.Message: ...


class StoreResourceApiKey:
    """Keep a freshly created project or dataset API key in the vault; answer with its metadata only."""

    def __init__(self, vault: Vault, resolver: CredentialResolver) -> None:
        self._vault = vault
        self._resolver = resolver

    @staticmethod
    def _resource(spec: OperationSpec, request: message.Message) -> tuple[str, str]:
        assert spec.operation is not None
        kind = RESOURCE_KIND[spec.operation.resource_type]
        assert kind in ("project", "dataset"), f"{spec.full_name}: API keys exist for projects and datasets only"
        return kind, str(getattr(request, spec.operation.resource_field))

    def check(self, spec: OperationSpec, request: message.Message) -> None:
        kind, _ = self._resource(spec, request)
        try:
            validate_scopes(kind, _scopes(request))
        except InvalidScopeError as exc:
            raise invalid_argument([("scopes", str(exc))]) from None

    async def finish(
        self, spec: OperationSpec, result: Any, request: message.Message, ctx: CallContext
    ) -> message.Message:
        kind, resource_hash = self._resource(spec, request)
        # K-01 answers the key as a string, K-04 as an object holding it (§5.12).
        key = result.get("api_key") if isinstance(result, dict) else result
        if not isinstance(key, str) or not key:
            raise malformed("no API key in the answer", label=f"{kind}apikey POST")
        scopes = _scopes(request)
        info = await asyncio.to_thread(
            self._vault.register_resource_api_key, ctx.organisation, kind, resource_hash, key, scopes
        )
        self._resolver.forget(ctx.organisation)  # a cached "no API key here" must not outlive this
        response = common_pb2.ResourceApiKey(
            credential_id=info.credential_id,
            resource_type=kind,
            resource_hash=resource_hash,
            title=str(_field(request, "title")),
            scopes=list(info.scopes),
        )
        response.created_at.FromDatetime(info.created_at)
        return response


def _field(request: message.Message, name: str) -> Any:
    """Fields of the requests that declare this step (CreateProjectApiKey, CreateDatasetApiKey)."""
    return getattr(request, name)


def _scopes(request: message.Message) -> list[str]:
    return [str(scope) for scope in _field(request, "scopes")]


def result_steps(vault: Vault, resolver: CredentialResolver) -> dict[str, ResultStep]:
    return {"store_resource_api_key": StoreResourceApiKey(vault, resolver)}
