"""Two organisations behind one gateway: each caller acts with its own organisation's key, and the cache keeps them apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from google.protobuf import json_format

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs


def test_each_organisation_sees_only_its_own_projects_even_when_cached(
    gateway_factory: Callable[..., GatewayProcess],
    stubs_for: Callable[[grpc.Channel], Stubs],
    sandbox: Sandbox,
) -> None:
    shared = gateway_factory(extra_organisations=1)
    alice, bob = shared.tenants
    with shared.channel() as opened:
        stubs = stubs_for(opened)
        mine = stubs.projects.CreateProject(
            projects_pb2.CreateProjectRequest(title="alice's project"), metadata=alice.auth_metadata
        ).project_hash
        request = projects_pb2.GetProjectRequest(project_hash=mine)
        stubs.projects.GetProject(request, metadata=alice.auth_metadata)
        _, call = stubs.projects.GetProject.with_call(request, metadata=alice.auth_metadata)
        assert dict(call.initial_metadata())["x-cache"] == "hit"

        # Bob asks for the very same request: no cache hit, and Encord refuses his organisation.
        with pytest.raises(grpc.RpcError) as raised:
            stubs.projects.GetProject(request, metadata=bob.auth_metadata)
        assert raised.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
        gets = [
            e["user"]
            for e in sandbox.requests_log()
            if e["query_type"] == "project" and e["query_method"] == "GET" and e["resource_id"] == mine
        ]
        assert gets == [alice.user.email, bob.user.email]  # each signed with its own organisation's key

        # Listings are per organisation, cached or not.
        everything = projects_pb2.ListProjectsRequest()
        assert [
            p.project_hash for p in stubs.projects.ListProjects(everything, metadata=alice.auth_metadata).projects
        ] == [mine]
        assert list(stubs.projects.ListProjects(everything, metadata=bob.auth_metadata).projects) == []
        bobs = stubs.projects.CreateProject(
            projects_pb2.CreateProjectRequest(title="bob's project"), metadata=bob.auth_metadata
        ).project_hash
        assert [
            p.project_hash for p in stubs.projects.ListProjects(everything, metadata=bob.auth_metadata).projects
        ] == [bobs]
        # Bob's write did not disturb (nor leak into) Alice's cached list.
        alices, call = stubs.projects.ListProjects.with_call(everything, metadata=alice.auth_metadata)
        assert [p.project_hash for p in alices.projects] == [mine]

    # Over REST the same.
    reply = shared.rest("GET", f"/v1/projects/{mine}", token=bob.token)
    assert reply.status in (403, 404), reply.body
    listed = shared.rest("GET", "/v1/projects", token=bob.token).json()
    assert [p["project_hash"] for p in listed["projects"]] == [bobs]
    assert json_format.ParseDict(listed, projects_pb2.ListProjectsResponse()).projects[0].title == "bob's project"
