"""Reference calls for legacy catalogue rows: operations the current SDK no longer offers.

SDK 0.1.211 dropped methods such as `create_project_api_key`, but kept the v1 transport they used:
`encord.http.querier.Querier` routes a call to the lower-cased name of a class (`ProjectAPIKey` →
`projectapikey`), signs it with the client's key and sends it with the same headers. Driving that
transport with a class of the legacy name and the payload the old SDK built (§5 of the wire
document) reproduces the old SDK's request byte for byte, so it stays the reference.
"""

from __future__ import annotations

from typing import Any

from encord import EncordUserClient
from encord.http.querier import Querier


class LegacyResult:
    """Whatever Encord answered; the Querier parses read results by calling the route class with them."""

    def __init__(self, value: Any) -> None:
        self.value = value


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
    The Querier method per verb is the one the old SDK used (setter for POST, getter for GET, ...).
    """
    route = type(query_type, (LegacyResult,), {})  # the Querier routes by the lower-cased class name
    assert Querier._route(route) == query_type, f"{query_type!r} is not a lower-case query_type"
    config = client.user_config
    if resource is None:
        querier = Querier(config)
    else:
        querier = Querier(config.config, resource_type=resource[0], resource_id=resource[1])
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
