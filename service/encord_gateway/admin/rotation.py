"""Organisation key rotation with a canary: the new key signs one real Encord call before the old retires.

Shared by the admin API (RotateOrganisationKey) and the CLI (`vault rotate-org-key`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from .._generated.encord.gateway.v1 import projects_pb2
from ..errors import GatewayError
from ..operations.catalog import OperationSpec
from ..upstream.client import UpstreamClient
from ..upstream.credentials import KIND_SSH_KEY, Credential
from ..vault.credentials import CredentialInfo, Vault

CANARY_OPERATION = "encord.gateway.v1.ProjectService.ListProjects"
CANARY_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class RotationResult:
    new: CredentialInfo
    retired: CredentialInfo | None


async def canary(vault: Vault, upstream: UpstreamClient, specs: dict[str, OperationSpec], credential_id: str) -> None:
    """One cheap authenticated read signed by `credential_id`: proves Encord accepts that key."""
    signer = await asyncio.to_thread(vault.signer_for_credential, credential_id)
    plan = specs[CANARY_OPERATION].plan
    assert plan is not None
    call = plan.wire_call(projects_pb2.ListProjectsRequest())
    credential = Credential(KIND_SSH_KEY, credential_id, signer=signer)
    await upstream.send(call, credential, time.monotonic() + CANARY_TIMEOUT_SECONDS)


async def rotate_org_key(
    vault: Vault,
    upstream: UpstreamClient,
    specs: dict[str, OperationSpec],
    organisation: str,
    private_key_text: bytes,
    passphrase: bytes | None,
) -> RotationResult:
    """Begin the rotation, run the canary, then complete it, or abort it and keep the old key.

    Raises the vault's errors as they are, and GatewayError(FAILED_PRECONDITION, CANARY_FAILED)
    when Encord refuses the new key.
    """
    old = await asyncio.to_thread(vault.signer_for_org, organisation)
    new = await asyncio.to_thread(vault.begin_org_key_rotation, organisation, private_key_text, passphrase)
    try:
        await canary(vault, upstream, specs, new.credential_id)
    except GatewayError as error:
        await asyncio.to_thread(vault.abort_org_key_rotation, organisation)
        raise GatewayError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"the new key failed its canary call to Encord ({error.reason}: {error.message}); the old key stays active",
            reason="CANARY_FAILED",
            metadata={"upstream_reason": error.reason},
        ) from None
    except BaseException:
        await asyncio.to_thread(vault.abort_org_key_rotation, organisation)
        raise
    await asyncio.to_thread(vault.complete_org_key_rotation, organisation)
    credentials = (await asyncio.to_thread(vault.list_credentials, organisation, 1000)).credentials
    by_id = {info.credential_id: info for info in credentials}
    retired = next((info for info in credentials if info.public_key_hex == old.public_key_hex), None)
    return RotationResult(by_id[new.credential_id], retired)
