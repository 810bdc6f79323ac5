"""Validation: read the request (only now that the caller is known) and refuse malformed input, headers
included, before policy, limits, the cache or Encord see it."""

from __future__ import annotations

from ..errors import invalid_argument
from ..operations import validate
from .call import Call, Proceed


class Validation:
    async def intercept(self, call: Call, proceed: Proceed) -> None:
        if call.header_problems:
            raise invalid_argument(call.header_problems)
        validate.validate(await call.read_request())
        await proceed(call)
