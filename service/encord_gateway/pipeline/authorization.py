"""Authorisation against the caller's policy: which organisation a call acts for, and whether the caller may
make it (deny by default). Refusals are audited."""

from __future__ import annotations

from ..access.authorize import authorize_admin, authorize_operation, choose_organisation
from ..errors import GatewayError
from .audit import AuditTrail
from .call import Call, Proceed


class Authorization:
    def __init__(self, audit: AuditTrail) -> None:
        self._audit = audit

    async def intercept(self, call: Call, proceed: Proceed) -> None:
        caller, request, spec = call.caller, call.request, call.spec
        assert caller is not None and request is not None, "authorisation runs after authentication and validation"
        try:
            if spec.admin is not None:
                call.organisation = authorize_admin(caller.name, caller.policy, spec, request)
            else:
                call.organisation = choose_organisation(caller.name, caller.policy, call.metadata)
                authorize_operation(caller.name, caller.policy, call.organisation, spec, request)
        except GatewayError as error:
            if error.reason == "POLICY_DENIED":  # a malformed organisation header is bad input, not a denial
                await self._audit.denied(call, error)
            raise
        await proceed(call)
