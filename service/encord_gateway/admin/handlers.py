"""Admin RPC handlers: credentials (vault), audit, and callers (token store), one method per RPC."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, message, timestamp_pb2

from .._generated.encord.gateway.admin.v1 import callers_pb2 as callers
from .._generated.encord.gateway.admin.v1 import credentials_pb2 as creds
from ..access.policy import Policy, check_methods, parse_policy
from ..access.store import AccessStore
from ..access.tokens import CallerInfo, TokenInfo
from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec
from ..pipeline.dispatch import AdminCall, AdminHandler
from ..upstream.client import UpstreamClient
from ..upstream.credentials import CredentialResolver
from ..vault import audit
from ..vault.credentials import CredentialInfo, Vault, VaultStatus
from .errors import as_gateway_error
from .rotation import rotate_org_key

T = TypeVar("T")
MAX_AUDIT_EVENTS = 1000


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def credential_message(info: CredentialInfo) -> creds.Credential:
    return creds.Credential(
        credential_id=info.credential_id,
        organisation=info.organisation,
        kind=info.kind,
        state=info.state,
        public_key_hex=info.public_key_hex,
        fingerprint=info.fingerprint,
        resource_type=info.resource_type,
        resource_hash=info.resource_hash,
        scopes=list(info.scopes),
        created_at=_timestamp(info.created_at),
        last_used_at=_timestamp(info.last_used_at),
    )


def vault_status_message(status: VaultStatus) -> creds.VaultStatus:
    return creds.VaultStatus(
        sealed=status.sealed,
        seal_reason=status.seal_reason,
        backend=status.backend,
        key_encryption_key=status.kek,
        terms=list(range(1, status.terms + 1)) if status.terms else [],
        active_term=status.active_term,
        encryptions_under_active_term=status.encryptions_under_active_term,
        rotate_after_encryptions=status.rotate_after,
    )


def _audit_event(line: audit.AuditLine) -> creds.AuditEvent:
    if line.entry is None:
        return creds.AuditEvent(line=line.number, damage=line.damage)
    entry = line.entry
    event = creds.AuditEvent(
        seq=entry["seq"],
        time=str(entry.get("time", "")),
        prev=str(entry.get("prev", "")),
        hash=str(entry.get("hash", "")),
        line=line.number,
    )
    event.event.update(entry["event"])
    return event


def policy_message(policy: Policy) -> callers.Policy:
    return json_format.ParseDict(policy.to_json(), callers.Policy())


def policy_from_message(policy: callers.Policy) -> Policy:
    return parse_policy(json_format.MessageToDict(policy, preserving_proto_field_name=True))


def caller_message(info: CallerInfo) -> callers.Caller:
    return callers.Caller(
        name=info.name,
        policy=policy_message(info.policy),
        certificate_identities=list(info.certificate_identities),
        created_at=_timestamp(info.created_at),
        updated_at=_timestamp(info.updated_at),
    )


def token_message(info: TokenInfo) -> callers.Token:
    return callers.Token(
        token_id=info.token_id,
        caller=info.caller,
        created_at=_timestamp(info.created_at),
        expires_at=_timestamp(info.expires_at),
        revoked_at=_timestamp(info.revoked_at),
    )


class AdminService:
    """The admin API's behaviour; vault and store calls are blocking, so they run in a worker thread."""

    def __init__(
        self,
        vault: Vault,
        tokens: AccessStore,
        resolver: CredentialResolver,
        upstream: UpstreamClient,
        specs: dict[str, OperationSpec],
        audit: audit.AuditTrail | None,
        on_credentials_changed: Callable[[str | None], None],
    ) -> None:
        self._vault = vault
        self._tokens = tokens
        self._resolver = resolver
        self._upstream = upstream
        self._specs = specs
        self._audit = audit
        self._changed = on_credentials_changed

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await self._call(asyncio.to_thread(function, *args))

    async def _call(self, action: Awaitable[T]) -> T:
        try:
            return await action
        except GatewayError:
            raise
        except Exception as exc:
            mapped = as_gateway_error(exc)
            if mapped is None:
                raise
            raise mapped from None

    def _credential(self, credential_id: str) -> CredentialInfo:
        page = self._vault.list_credentials(page_size=1000)
        while True:
            for info in page.credentials:
                if info.credential_id == credential_id:
                    return info
            if not page.next_page_token:
                break
            page = self._vault.list_credentials(page_size=1000, page_token=page.next_page_token)
        raise GatewayError(grpc.StatusCode.NOT_FOUND, f"no credential {credential_id!r}", reason="CREDENTIAL_NOT_FOUND")

    # --- credentials ---------------------------------------------------------------------------

    async def register_organisation_key(
        self, request: creds.RegisterOrganisationKeyRequest, call: AdminCall
    ) -> creds.Credential:
        info = await self._run(
            self._vault.add_org_key,
            request.organisation,
            request.private_key.encode("utf-8"),
            request.passphrase.encode("utf-8") or None,
        )
        self._changed(request.organisation)
        return credential_message(await self._run(self._credential, info.credential_id))

    async def rotate_organisation_key(
        self, request: creds.RotateOrganisationKeyRequest, call: AdminCall
    ) -> creds.RotateOrganisationKeyResponse:
        try:
            result = await rotate_org_key(
                self._vault,
                self._upstream,
                self._specs,
                request.organisation,
                request.private_key.encode("utf-8"),
                request.passphrase.encode("utf-8") or None,
            )
        except GatewayError:
            raise
        except Exception as exc:
            mapped = as_gateway_error(exc)
            if mapped is None:
                raise
            raise mapped from None
        self._changed(request.organisation)
        response = creds.RotateOrganisationKeyResponse(new_credential=credential_message(result.new))
        if result.retired is not None:
            response.retired_credential.CopyFrom(credential_message(result.retired))
        return response

    async def register_resource_api_key(
        self, request: creds.RegisterResourceApiKeyRequest, call: AdminCall
    ) -> creds.Credential:
        info = await self._run(
            self._vault.register_resource_api_key,
            request.organisation,
            request.resource_type,
            request.resource_hash,
            request.api_key,
            list(request.scopes),
        )
        self._changed(request.organisation)
        return credential_message(info)

    async def list_credentials(
        self, request: creds.ListCredentialsRequest, call: AdminCall
    ) -> creds.ListCredentialsResponse:
        page = await self._run(
            self._vault.list_credentials, request.organisation or None, request.page_size or 100, request.page_token
        )
        return creds.ListCredentialsResponse(
            credentials=[credential_message(info) for info in page.credentials], next_page_token=page.next_page_token
        )

    async def revoke_credential(self, request: creds.RevokeCredentialRequest, call: AdminCall) -> creds.Credential:
        info = await self._run(self._vault.revoke_credential, request.credential_id)
        self._changed(info.organisation)
        return credential_message(info)

    async def rotate_vault_key(self, request: creds.RotateVaultKeyRequest, call: AdminCall) -> creds.VaultStatus:
        await self._run(self._vault.rotate_key)
        return vault_status_message(await self._run(self._vault.status))

    async def rewrap_vault(self, request: creds.RewrapVaultRequest, call: AdminCall) -> creds.RewrapVaultResponse:
        result = await self._run(self._vault.rewrap)
        return creds.RewrapVaultResponse(
            rewrapped=result.rewrapped,
            already_current=result.current,
            status=vault_status_message(await self._run(self._vault.status)),
        )

    async def get_vault_status(self, request: creds.GetVaultStatusRequest, call: AdminCall) -> creds.VaultStatus:
        return vault_status_message(await self._run(self._vault.status))

    async def list_audit_events(
        self, request: creds.ListAuditEventsRequest, call: AdminCall
    ) -> creds.ListAuditEventsResponse:
        limit = request.page_size or 100
        if not 1 <= limit <= MAX_AUDIT_EVENTS:
            raise invalid_argument([("page_size", f"must be between 1 and {MAX_AUDIT_EVENTS}")])
        lines = [] if self._audit is None else await self._call(self._audit.recent(limit))
        return creds.ListAuditEventsResponse(events=[_audit_event(line) for line in lines])

    # --- callers -------------------------------------------------------------------------------

    def _policy(self, message: callers.Policy) -> Policy:
        policy = policy_from_message(message)
        check_methods(policy, self._specs)
        return policy

    async def create_caller(self, request: callers.CreateCallerRequest, call: AdminCall) -> callers.Caller:
        policy = await self._run(self._policy, request.policy)
        return caller_message(await self._call(self._tokens.create_caller(request.name, policy)))

    async def set_caller_policy(self, request: callers.SetCallerPolicyRequest, call: AdminCall) -> callers.Caller:
        policy = await self._run(self._policy, request.policy)
        return caller_message(await self._call(self._tokens.set_policy(request.name, policy)))

    async def get_caller(self, request: callers.GetCallerRequest, call: AdminCall) -> callers.Caller:
        info = await self._call(self._tokens.get_caller(request.name))
        if info is None:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, f"no caller named {request.name!r}", reason="NOT_FOUND")
        return caller_message(info)

    async def list_callers(self, request: callers.ListCallersRequest, call: AdminCall) -> callers.ListCallersResponse:
        found, next_token = await self._call(self._tokens.list_callers(request.page_size or 100, request.page_token))
        return callers.ListCallersResponse(callers=[caller_message(i) for i in found], next_page_token=next_token)

    async def delete_caller(
        self, request: callers.DeleteCallerRequest, call: AdminCall
    ) -> callers.DeleteCallerResponse:
        active = [t for t in await self._call(self._tokens.list_tokens(request.name)) if t.revoked_at is None]
        await self._call(self._tokens.delete_caller(request.name))
        return callers.DeleteCallerResponse(revoked_tokens=len(active))

    async def issue_token(self, request: callers.IssueTokenRequest, call: AdminCall) -> callers.IssueTokenResponse:
        expires_at = None
        if request.HasField("ttl"):
            ttl = request.ttl.ToTimedelta()
            if ttl <= timedelta(0):
                raise invalid_argument([("ttl", "must be positive")])
            try:
                expires_at = datetime.now(UTC) + ttl
            except OverflowError:
                raise invalid_argument([("ttl", "is too long: the token would expire after the year 9999")]) from None
        issued = await self._call(self._tokens.issue(request.caller, None, expires_at))
        metadata = callers.Token(
            token_id=issued.token_id,
            caller=issued.caller,
            created_at=_timestamp(issued.created_at),
            expires_at=_timestamp(issued.expires_at),
        )
        return callers.IssueTokenResponse(token=issued.token, metadata=metadata)

    async def list_tokens(self, request: callers.ListTokensRequest, call: AdminCall) -> callers.ListTokensResponse:
        found = await self._call(self._tokens.list_tokens(request.caller or None))
        return callers.ListTokensResponse(tokens=[token_message(t) for t in found])

    async def revoke_token(self, request: callers.RevokeTokenRequest, call: AdminCall) -> callers.Token:
        if not await self._call(self._tokens.revoke_token(request.token_id)):
            raise GatewayError(grpc.StatusCode.NOT_FOUND, f"no active token {request.token_id!r}", reason="NOT_FOUND")
        found = [t for t in await self._call(self._tokens.list_tokens()) if t.token_id == request.token_id]
        return token_message(found[0]) if found else callers.Token(token_id=request.token_id)

    async def map_certificate_identity(
        self, request: callers.MapCertificateIdentityRequest, call: AdminCall
    ) -> callers.Caller:
        await self._call(self._tokens.map_certificate_identity(request.identity, request.caller))
        info = await self._call(self._tokens.get_caller(request.caller))
        assert info is not None
        return caller_message(info)

    # --- the table -----------------------------------------------------------------------------

    def handlers(self, specs: dict[str, OperationSpec]) -> dict[str, AdminHandler]:
        """Every admin RPC of the catalog mapped to the method of the same (snake_case) name."""
        table: dict[str, AdminHandler] = {}
        for spec in specs.values():
            if spec.admin is None:
                continue
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", spec.method).lower()
            method = getattr(self, name, None)
            if method is None:
                raise ValueError(f"admin RPC {spec.full_name} has no handler AdminService.{name}")
            table[spec.full_name] = _typed(method)
        return table


def _typed(method: Callable[[Any, AdminCall], Awaitable[message.Message]]) -> AdminHandler:
    return method
