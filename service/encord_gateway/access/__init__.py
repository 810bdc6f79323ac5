"""Caller identities, tokens and (later) policies: who is calling the gateway, and on whose behalf."""

from encord_gateway.access.tokens import Caller, TokenStore

__all__ = ["Caller", "TokenStore"]
