"""Paged listings (AIP-158 page_size/page_token) and the stream of every project, over gRPC and REST.

The gateway's page token wraps Encord's token and an offset, so it pages listings Encord answers in
one piece (datasets) as well as Encord's own pages; a token it did not issue is refused before any
upstream call. The sandbox's request log is the witness of what went upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, projects_pb2
from encord_gateway.sandbox.paging import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs

GARBAGE_TOKEN = "not-a-token-this-gateway-issued"


def make_projects(stubs: Stubs, gateway: GatewayProcess, prefix: str, count: int) -> set[str]:
    request = projects_pb2.CreateProjectRequest
    return {
        stubs.projects.CreateProject(request(title=f"{prefix}-{n:03d}"), metadata=gateway.auth_metadata).project_hash
        for n in range(count)
    }


def make_datasets(stubs: Stubs, gateway: GatewayProcess, prefix: str, count: int) -> set[str]:
    request = datasets_pb2.CreateDatasetRequest
    return {
        stubs.datasets.CreateDataset(request(title=f"{prefix}-{n:03d}"), metadata=gateway.auth_metadata).dataset_hash
        for n in range(count)
    }


def upstream_calls(sandbox: Sandbox, gateway: GatewayProcess) -> list[dict[str, Any]]:
    """What this gateway's organisation sent to the sandbox since the log was last cleared."""
    return [entry for entry in sandbox.requests_log() if entry["user"] == gateway.user.email]


def test_list_projects_pages_at_the_callers_page_size_each_project_once(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    prefix = make_title("paged")
    made = make_projects(stubs, gateway, prefix, 5)

    pages: list[list[str]] = []
    tokens: list[str] = []
    token = ""
    while True:
        page = stubs.projects.ListProjects(
            projects_pb2.ListProjectsRequest(title_like=f"{prefix}-%", page_size=2, page_token=token),
            metadata=gateway.auth_metadata,
        )
        pages.append([p.project_hash for p in page.projects])
        tokens.append(page.next_page_token)
        token = page.next_page_token
        if not token or len(pages) > 5:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert all(tokens[:2]) and tokens[2] == ""
    seen = [project for page in pages for project in page]
    assert len(seen) == len(set(seen)) and set(seen) == made


def test_list_datasets_pages_encords_single_answer(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    prefix = make_title("paged")
    made = make_datasets(stubs, gateway, prefix, 5)

    pages: list[list[str]] = []
    token = ""
    while True:
        page = stubs.datasets.ListDatasets(
            datasets_pb2.ListDatasetsRequest(title_like=f"{prefix}-%", page_size=2, page_token=token),
            metadata=gateway.auth_metadata,
        )
        pages.append([d.dataset_hash for d in page.datasets])
        token = page.next_page_token
        if not token or len(pages) > 5:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [dataset for page in pages for dataset in page]
    assert len(seen) == len(set(seen)) and set(seen) == made


@pytest.mark.parametrize(
    ("listing", "request_message"),
    [
        ("projects", projects_pb2.ListProjectsRequest(page_token=GARBAGE_TOKEN)),
        ("datasets", datasets_pb2.ListDatasetsRequest(page_token=GARBAGE_TOKEN)),
    ],
)
def test_a_page_token_the_gateway_did_not_issue_is_invalid_and_never_sent_upstream(
    gateway: GatewayProcess,
    stubs: Stubs,
    sandbox: Sandbox,
    gateway_kit: GatewayKit,
    listing: str,
    request_message: Any,
) -> None:
    method = stubs.projects.ListProjects if listing == "projects" else stubs.datasets.ListDatasets
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as caught:
        method(request_message, metadata=gateway.auth_metadata)

    details = gateway_kit.grpc_error(caught.value)
    assert details.code == "INVALID_ARGUMENT"
    assert details.fields == ("page_token",)
    assert upstream_calls(sandbox, gateway) == []


def test_stream_projects_yields_every_project_across_encords_pages(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    prefix = make_title("streamed")
    made = make_projects(stubs, gateway, prefix, DEFAULT_PAGE_SIZE + 2)
    sandbox.clear_requests_log()

    streamed = [
        p.project_hash
        for p in stubs.projects.StreamProjects(
            projects_pb2.ListProjectsRequest(title_like=f"{prefix}-%"), metadata=gateway.auth_metadata
        )
    ]

    assert len(streamed) == len(set(streamed)) and set(streamed) == made
    listings = [e for e in upstream_calls(sandbox, gateway) if e["api"] == "v2" and e["method"] == "GET"]
    assert len(listings) == 2  # Encord's two pages


def test_stream_projects_over_rest_answers_one_json_object_per_line(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    prefix = make_title("ndjson")
    made = make_projects(stubs, gateway, prefix, 3)

    reply = gateway.rest("GET", f"/v1/projects:stream?title_like={prefix}-%25")

    assert reply.status == 200
    assert reply.headers["content-type"].split(";")[0] == "application/x-ndjson"
    lines = reply.body.decode("utf-8").splitlines()
    assert reply.body.endswith(b"\n") and len(lines) == 3
    projects = [json.loads(line) for line in lines]
    assert {p["project_hash"] for p in projects} == made
    assert sorted(p["title"] for p in projects) == [f"{prefix}-{n:03d}" for n in range(3)]


def test_stream_projects_over_rest_by_exact_title(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    title = make_title("ndjson-one")
    (made,) = make_projects(stubs, gateway, title, 1)

    reply = gateway.rest("GET", f"/v1/projects:stream?title_eq={title}-000")

    assert reply.status == 200
    assert [json.loads(line)["project_hash"] for line in reply.body.decode("utf-8").splitlines()] == [made]


def test_a_stream_that_fails_before_its_first_item_answers_a_plain_status(
    gateway: GatewayProcess, sandbox: Sandbox, gateway_kit: GatewayKit
) -> None:
    sandbox.clear_requests_log()

    reply = gateway.rest("GET", f"/v1/projects:stream?page_token={GARBAGE_TOKEN}")

    assert reply.status == 400
    assert reply.headers["content-type"].split(";")[0] == "application/json"
    details = gateway_kit.rest_error(reply)
    assert details.code == "INVALID_ARGUMENT" and details.fields == ("page_token",)
    assert upstream_calls(sandbox, gateway) == []


def test_a_stream_with_no_match_is_an_empty_ndjson_answer(
    gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    reply = gateway.rest("GET", f"/v1/projects:stream?title_eq={make_title('nothing')}")

    assert reply.status == 200
    assert reply.headers["content-type"].split(";")[0] == "application/x-ndjson"
    assert reply.body == b""
