"""The response cache as a caller notices it: `x-cache` metadata/headers, and fewer calls reaching Encord."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from encord_gateway._generated.encord.gateway.v1 import projects_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs


def x_cache(call: grpc.Call) -> str | None:
    return dict(call.initial_metadata() or ()).get("x-cache")


def project_gets(sandbox: Sandbox, project_hash: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in sandbox.requests_log()
        if entry["query_type"] == "project" and entry["query_method"] == "GET" and entry["resource_id"] == project_hash
    ]


def project_lists(sandbox: Sandbox, email: str) -> int:
    return sum(
        1
        for e in sandbox.requests_log()
        if e["path"] == "/v2/public/projects" and e["method"] == "GET" and e["user"] == email
    )


def test_second_identical_get_project_is_a_cache_hit_over_grpc(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("cached")), metadata=md
    ).project_hash
    request = projects_pb2.GetProjectRequest(project_hash=project_hash)

    first, first_call = stubs.projects.GetProject.with_call(request, metadata=md)
    second, second_call = stubs.projects.GetProject.with_call(request, metadata=md)
    assert x_cache(first_call) == "miss"
    assert x_cache(second_call) == "hit"
    assert second == first
    assert len(project_gets(sandbox, project_hash)) == 1

    # A different request (labels metadata asked for) is a different cache entry.
    _, third_call = stubs.projects.GetProject.with_call(
        projects_pb2.GetProjectRequest(project_hash=project_hash, include_labels_metadata=True), metadata=md
    )
    assert x_cache(third_call) == "miss"
    assert len(project_gets(sandbox, project_hash)) == 2


def test_second_identical_get_project_is_a_cache_hit_over_rest(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    created = gateway.rest("POST", "/v1/projects", body={"title": make_title("rest-cached")})
    assert created.status == 200, created.body
    assert "x-cache" not in created.headers  # writes are never cached
    project_hash = created.json()["project_hash"]

    first = gateway.rest("GET", f"/v1/projects/{project_hash}")
    second = gateway.rest("GET", f"/v1/projects/{project_hash}")
    assert (first.status, second.status) == (200, 200)
    assert first.headers.get("x-cache") == "miss"
    assert second.headers.get("x-cache") == "hit"
    assert second.json() == first.json()
    assert len(project_gets(sandbox, project_hash)) == 1

    # Both edges share one cache: the same read over gRPC is a hit too.
    _, call = stubs.projects.GetProject.with_call(
        projects_pb2.GetProjectRequest(project_hash=project_hash), metadata=gateway.auth_metadata
    )
    assert x_cache(call) == "hit"
    assert len(project_gets(sandbox, project_hash)) == 1


def test_create_project_invalidates_the_cached_project_list(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    tag = make_title("inval")
    request = projects_pb2.ListProjectsRequest(title_like=f"{tag}%")
    before = project_lists(sandbox, gateway.user.email)

    empty, call = stubs.projects.ListProjects.with_call(request, metadata=md)
    assert x_cache(call) == "miss"
    assert list(empty.projects) == []
    _, call = stubs.projects.ListProjects.with_call(request, metadata=md)
    assert x_cache(call) == "hit"
    assert project_lists(sandbox, gateway.user.email) == before + 1

    new_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=f"{tag}-new"), metadata=md
    ).project_hash

    after, call = stubs.projects.ListProjects.with_call(request, metadata=md)
    assert x_cache(call) == "miss"
    assert [p.project_hash for p in after.projects] == [new_hash]
    assert project_lists(sandbox, gateway.user.email) == before + 2

    # And over REST the list is refreshed the same way.
    rest_list = gateway.rest("GET", f"/v1/projects?title_like={tag}%25")
    assert rest_list.headers.get("x-cache") == "hit"
    created = gateway.rest("POST", "/v1/projects", body={"title": f"{tag}-rest"})
    assert created.status == 200, created.body
    refreshed = gateway.rest("GET", f"/v1/projects?title_like={tag}%25")
    assert refreshed.headers.get("x-cache") == "miss"
    assert {p["project_hash"] for p in refreshed.json()["projects"]} == {new_hash, created.json()["project_hash"]}
