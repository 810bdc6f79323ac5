"""Caller identities, tokens, policies and limits: who is calling the gateway, and what it may do."""

from encord_gateway.access.errors import AccessError, AlreadyExistsError, NotFoundError
from encord_gateway.access.limits import Admission, CallerLimiter, LimitDefaults, LimitExceeded
from encord_gateway.access.policy import Grant, Limits, Policy, PolicyError, parse_policy
from encord_gateway.access.tokens import Caller, CallerInfo, IssuedToken, TokenInfo, TokenStore

__all__ = [
    "AccessError",
    "Admission",
    "AlreadyExistsError",
    "Caller",
    "CallerInfo",
    "CallerLimiter",
    "Grant",
    "IssuedToken",
    "LimitDefaults",
    "LimitExceeded",
    "Limits",
    "NotFoundError",
    "Policy",
    "PolicyError",
    "TokenInfo",
    "TokenStore",
    "parse_policy",
]
