"""Creating project and dataset API keys through the gateway: the key goes into the vault, the caller gets metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, projects_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs


def key_calls(sandbox: Sandbox, query_type: str) -> list[dict[str, Any]]:
    return [e for e in sandbox.requests_log() if e["query_type"] == query_type and e["query_method"] == "POST"]


def test_a_dataset_api_key_is_kept_in_the_vault_and_then_signs_the_reads_it_covers(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=make_title("keyed")), metadata=md)
    read = datasets_pb2.GetDatasetRequest(dataset_hash=dataset.dataset_hash)
    stubs.datasets.GetDataset(read, metadata=md)  # cached under the organisation's SSH key

    created = stubs.datasets.CreateDatasetApiKey(
        datasets_pb2.CreateDatasetApiKeyRequest(
            dataset_hash=dataset.dataset_hash, title="reader", scopes=["dataset.read"]
        ),
        metadata=md,
    )
    assert created.credential_id and created.resource_type == "dataset"
    assert (created.resource_hash, list(created.scopes), created.title) == (
        dataset.dataset_hash,
        ["dataset.read"],
        "reader",
    )
    assert {f.name for f, _ in created.ListFields()} <= {
        "credential_id", "resource_type", "resource_hash", "title", "scopes", "created_at"
    }  # fmt: skip
    assert key_calls(sandbox, "datasetapikey")[-1]["outcome"] == "ok"

    sandbox.clear_requests_log()
    _, call = stubs.datasets.GetDataset.with_call(read, metadata=md)
    assert dict(call.initial_metadata())["x-cache"] == "miss"  # another credential, another cache entry
    gets = [e for e in sandbox.requests_log() if e["query_type"] == "dataset" and e["query_method"] == "GET"]
    assert [e["auth"] for e in gets] == ["api_key"]


def test_a_project_api_key_over_rest_answers_metadata_only(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("keyed")), metadata=gateway.auth_metadata
    ).project_hash
    reply = gateway.rest(
        "POST",
        f"/v1/projects/{project_hash}/api-keys",
        body={"title": "labels", "scopes": ["label.read", "label.write"]},
    )
    body = reply.json()
    assert reply.status == 200, body
    assert body["resource_type"] == "project" and body["scopes"] == ["label.read", "label.write"]
    assert set(body) <= {"credential_id", "resource_type", "resource_hash", "title", "scopes", "created_at"}


@pytest.mark.parametrize("scopes", [["dataset.delete"], ["label.read"], []])
def test_invalid_scopes_are_refused_before_any_key_is_created_upstream(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str], scopes: list[str]
) -> None:
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=make_title("bad")), metadata=md)
    sandbox.clear_requests_log()
    with pytest.raises(grpc.RpcError) as caught:
        stubs.datasets.CreateDatasetApiKey(
            datasets_pb2.CreateDatasetApiKeyRequest(dataset_hash=dataset.dataset_hash, title="t", scopes=scopes),
            metadata=md,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "scopes" in (caught.value.details() or "")
    assert key_calls(sandbox, "datasetapikey") == []
