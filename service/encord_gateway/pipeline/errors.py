"""The error boundary: how each call ended, and a bug is INTERNAL (logged with its traceback), never a leak.

Everything inside it answers with a GatewayError or not at all; the observers outside it (metrics, the
access log, tracing) read `call.code` and `call.error`.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from ..errors import GatewayError
from .call import Call, Proceed

log = logging.getLogger("encord_gateway.pipeline")


class Errors:
    async def intercept(self, call: Call, proceed: Proceed) -> None:
        try:
            await proceed(call)
        except GatewayError as error:
            call.code, call.error = error.code, error
            raise
        except (asyncio.CancelledError, GeneratorExit):
            call.code = grpc.StatusCode.CANCELLED  # the caller went away (or its stream was closed)
            raise
        except Exception:
            # A bug, not bad input: log it with its traceback, give the caller nothing internal.
            log.exception("unexpected failure in %s", call.spec.full_name)
            call.code = grpc.StatusCode.INTERNAL
            call.error = GatewayError(call.code, "internal error", reason="INTERNAL")
            raise call.error from None
