"""Reference calls for legacy catalogue rows: operations the current SDK no longer offers.

SDK 0.1.211 dropped methods such as `create_project_api_key`, but kept the v1 transport they used:
`encord.http.querier.Querier` routes a call to the lower-cased name of a class (`ProjectAPIKey` →
`projectapikey`), signs it with the client's key and sends it with the same headers. Driving that
transport with a class of the legacy name and the payload the old SDK built (§5 of the wire
document) reproduces the old SDK's request byte for byte, so it stays the reference.

Calls made with a resource API key (K-07) need what 0.1.211 no longer has at all: a config that sends
the key itself. `ApiKeyConfig` is the SDK's `Config` with the legacy API-key headers of §2.2.
"""

from __future__ import annotations

from typing import Any

from encord import EncordUserClient
from encord.configs import Config
from encord.http.common import HEADER_CLOUD_TRACE_CONTEXT, HEADER_USER_AGENT
from encord.http.querier import Querier
from requests import PreparedRequest


class LegacyResult:
    """Whatever Encord answered; the Querier parses read results by calling the route class with them."""

    def __init__(self, value: Any) -> None:
        self.value = value


class ApiKeyConfig(Config):
    """The old SDK's API-key configuration (§2.2 "Legacy API-key mode"): the raw key as Authorization,
    ResourceID only, no ResourceType; User-Agent and trace id as the current SDK makes them."""

    def __init__(self, api_key: str, domain: str) -> None:
        self.api_key = api_key
        super().__init__(domain=domain)

    def define_headers(self, resource_id: str | None, resource_type: str | None, data: str) -> dict[str, Any]:
        return {
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "Content-Type": "application/json",
            "ResourceID": resource_id or "",
            "Authorization": self.api_key,
            HEADER_USER_AGENT: self._user_agent(),
            HEADER_CLOUD_TRACE_CONTEXT: self._tracing_id(),
        }

    def define_headers_v2(self, request: PreparedRequest) -> PreparedRequest:
        raise NotImplementedError("resource API keys were never accepted by the v2 API (§1.2)")


def _route(query_type: str) -> type[LegacyResult]:
    route = type(query_type, (LegacyResult,), {})  # the Querier routes by the lower-cased class name
    assert Querier._route(route) == query_type, f"{query_type!r} is not a lower-case query_type"
    return route


def _send(querier: Querier, query_type: str, query_method: str, uid: Any, payload: Any) -> Any:
    """The Querier method per verb is the one the old SDK used (setter for POST, getter for GET, ...)."""
    route = _route(query_type)
    if query_method == "POST":
        return querier.basic_setter(route, uid=uid, payload=payload)
    if query_method == "PUT":
        return querier.basic_put(route, uid=uid, payload=payload)
    if query_method == "GET":
        return querier.basic_getter(route, uid=uid, payload=payload).value
    if query_method == "DELETE":
        if payload is not None:
            raise ValueError("the SDK's v1 DELETE helper sends no payload")
        return querier.basic_delete(route, uid=uid)
    raise ValueError(f"unknown v1 query_method {query_method!r}")


def api_key_v1_call(
    domain: str,
    api_key: str,
    resource_id: str,
    query_type: str,
    query_method: str,
    *,
    uid: Any = None,
    payload: Any = None,
) -> Any:
    """Send v1 `query_type query_method` to /public with a resource API key, as the old SDK's
    API-key clients did (K-07's `apikeymeta GET` on start); return Encord's `response`."""
    return _send(
        Querier(ApiKeyConfig(api_key, domain), resource_id=resource_id), query_type, query_method, uid, payload
    )


def legacy_v1_call(
    client: EncordUserClient,
    query_type: str,
    query_method: str,
    *,
    uid: Any = None,
    payload: Any = None,
    resource: tuple[str, str] | None = None,
) -> Any:
    """Send v1 `query_type query_method` through the SDK's own Querier; return Encord's `response`.

    Without `resource` the call goes to /public/user with empty ResourceID/ResourceType, as the old
    SDK's user-level calls did; `resource=("project", hash)` sends it to /public for that resource.
    """
    config = client.user_config
    if resource is None:
        querier = Querier(config)
    else:
        querier = Querier(config.config, resource_type=resource[0], resource_id=resource[1])
    return _send(querier, query_type, query_method, uid, payload)
