"""Policy decisions for one call: which organisation it acts for, and whether the caller may make it.

Both edges reach this through the pipeline's Authorization interceptor, so REST and gRPC are decided by the
same code from the same declarations (the operation's resource type, resource field and references in the
proto).
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import message

from ..errors import GatewayError, invalid_argument
from ..operations.catalog import OperationSpec
from ..operations.resources import RESOURCE_KIND
from .policy import Policy

ORGANISATION_HEADER = "x-encord-organisation"
MAX_ORGANISATION_LENGTH = 200


def denied(message: str, **metadata: str) -> GatewayError:
    return GatewayError(grpc.StatusCode.PERMISSION_DENIED, message, reason="POLICY_DENIED", metadata=metadata)


def choose_organisation(caller: str, policy: Policy, metadata: Mapping[str, str]) -> str:
    """The organisation a data call acts for: named by the header, or implied when there is one."""
    organisations = policy.organisations
    requested = metadata.get(ORGANISATION_HEADER)
    if requested is not None:
        requested = requested.strip()
        if not requested or len(requested) > MAX_ORGANISATION_LENGTH or not requested.isprintable():
            raise invalid_argument([(ORGANISATION_HEADER, "must be an organisation name")])
        if requested not in organisations and "*" not in organisations:
            raise denied(f"caller {caller!r} may not act for organisation {requested!r}", organisation=requested)
        return requested
    if len(organisations) == 1 and organisations[0] != "*":
        return organisations[0]
    if not organisations:
        raise denied(f"caller {caller!r} has no grants")
    which = "any organisation" if "*" in organisations else "several organisations"
    raise invalid_argument([(ORGANISATION_HEADER, f"caller may act for {which}; name one in this header")])


def _values(request: message.Message, field: str) -> list[str]:
    value = getattr(request, field)
    if isinstance(value, str):
        return [value] if value else []
    return [str(item) for item in value]


def authorize_operation(
    caller: str, policy: Policy, organisation: str, spec: OperationSpec, request: message.Message
) -> None:
    """Deny unless a grant covers the organisation, the right and every resource the request names."""
    operation = spec.operation
    assert operation is not None
    kind = RESOURCE_KIND[operation.resource_type]
    resource = str(getattr(request, operation.resource_field)) if operation.resource_field else None
    if not policy.allows(organisation, kind, resource, spec.right, spec.full_name):
        target = f"{kind}:{resource}" if resource else f"{kind or 'any'} resources"
        raise denied(
            f"caller {caller!r} may not {spec.right} {target} in organisation {organisation!r}",
            organisation=organisation,
            right=spec.right,
            method=spec.method,
        )
    for reference in operation.references:
        referenced_kind = RESOURCE_KIND[reference.type]
        for value in _values(request, reference.field):
            if not policy.allows(organisation, referenced_kind, value, "read", spec.full_name):
                raise denied(
                    f"caller {caller!r} may not use {referenced_kind}:{value} (field {reference.field})",
                    organisation=organisation,
                    field=reference.field,
                )


def authorize_admin(caller: str, policy: Policy, spec: OperationSpec, request: message.Message) -> str | None:
    """Admin calls need the admin right on the organisation they name, or on `*` when they name none."""
    assert spec.admin is not None
    field = spec.admin.organisation_field
    organisation = str(getattr(request, field)) or None if field else None
    if not policy.allows_admin(organisation, spec.full_name):
        scope = f"organisation {organisation!r}" if organisation else "the whole gateway"
        raise denied(f"caller {caller!r} holds no admin grant for {scope}", method=spec.method)
    return organisation
