"""`GET /openapi.json` on a running gateway: public, JSON, and exactly the document derived from the descriptors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from encord_gateway.edge.openapi import build_openapi
from encord_gateway.operations.catalog import load_catalog

if TYPE_CHECKING:
    from conftest import GatewayProcess


def test_openapi_document_is_served_without_a_token(gateway: GatewayProcess) -> None:
    reply = gateway.rest("GET", "/openapi.json", token=None)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == build_openapi(load_catalog())


def test_openapi_document_describes_the_routes_it_sits_next_to(gateway: GatewayProcess) -> None:
    document = gateway.rest("GET", "/openapi.json", token=None).json()
    assert document["paths"]["/v1/projects"]["post"]["operationId"] == "encord.gateway.v1.ProjectService.CreateProject"
    # The API itself still wants a token: the document's global security is what the gateway enforces.
    assert document["security"] == [{"bearer": []}]
    assert gateway.rest("GET", "/v1/projects", token=None).status == 401
    assert gateway.rest("GET", "/v1/projects").status == 200
