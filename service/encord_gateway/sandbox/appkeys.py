"""Typed keys for what the sandbox application holds."""

from __future__ import annotations

from aiohttp import web

from .faults import FaultTable
from .requestlog import RequestLog
from .store import Store

STORE = web.AppKey("store", Store)
REQUEST_LOG = web.AppKey("request_log", RequestLog)
FAULTS = web.AppKey("faults", FaultTable)
