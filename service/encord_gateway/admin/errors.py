"""Vault and access errors as gRPC statuses: one table, so admin handlers never translate by hand."""

from __future__ import annotations

import grpc

from ..access.errors import AccessError, AlreadyExistsError, NotFoundError
from ..access.policy import PolicyError
from ..errors import GatewayError
from ..vault import errors as vault_errors

S = grpc.StatusCode

# Most specific first: several vault errors also derive from ValueError or LookupError.
STATUS_OF: tuple[tuple[type[Exception], grpc.StatusCode, str], ...] = (
    (vault_errors.SealedError, S.FAILED_PRECONDITION, "VAULT_SEALED"),
    (vault_errors.BackendUnavailableError, S.UNAVAILABLE, "VAULT_BACKEND_UNAVAILABLE"),
    (vault_errors.CredentialNotFoundError, S.NOT_FOUND, "CREDENTIAL_NOT_FOUND"),
    (vault_errors.CredentialExistsError, S.ALREADY_EXISTS, "CREDENTIAL_EXISTS"),
    (vault_errors.CredentialStateError, S.FAILED_PRECONDITION, "CREDENTIAL_STATE"),
    (vault_errors.CredentialCorruptError, S.FAILED_PRECONDITION, "CREDENTIAL_UNUSABLE"),
    (vault_errors.StoreConflictError, S.ABORTED, "CONCURRENT_CHANGE"),
    (vault_errors.InvalidKeyError, S.INVALID_ARGUMENT, "INVALID_KEY"),
    (vault_errors.InvalidScopeError, S.INVALID_ARGUMENT, "INVALID_SCOPE"),
    (vault_errors.InvalidNameError, S.INVALID_ARGUMENT, "INVALID_NAME"),
    (vault_errors.InvalidArgumentError, S.INVALID_ARGUMENT, "INVALID_REQUEST"),
    (PolicyError, S.INVALID_ARGUMENT, "INVALID_POLICY"),
    (NotFoundError, S.NOT_FOUND, "NOT_FOUND"),
    (AlreadyExistsError, S.ALREADY_EXISTS, "ALREADY_EXISTS"),
    (AccessError, S.INVALID_ARGUMENT, "INVALID_REQUEST"),
    (vault_errors.VaultError, S.FAILED_PRECONDITION, "VAULT_ERROR"),
)


def as_gateway_error(exc: Exception) -> GatewayError | None:
    """The status for a vault or access error (messages carry no secrets by their design), else None."""
    for kind, code, reason in STATUS_OF:
        if isinstance(exc, kind):
            return GatewayError(code, str(exc), reason=reason)
    return None
