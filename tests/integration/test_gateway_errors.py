"""Failures as a caller sees them: authentication, unknown resources, malformed input, deadlines.

Whenever the gateway can refuse a call by itself, the sandbox's request log proves that Encord was never called.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import datasets_pb2, ontologies_pb2, projects_pb2, projects_pb2_grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import GatewayProcess, HttpReply, Sandbox, Stubs

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@contextmanager
def no_upstream_call(sandbox: Sandbox) -> Iterator[None]:
    """Everything inside must be refused by the gateway itself: the sandbox receives nothing."""
    before = len(sandbox.requests_log())
    yield
    after = sandbox.requests_log()
    assert len(after) == before, f"the gateway called Encord: {after[before:]}"


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def details(error: grpc.RpcError) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo | None, list[str]]:
    """The google.rpc.Status of a failed call, its ErrorInfo, and the fields its BadRequest names."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no grpc-status-details-bin trailer on {error.code()}: {error.details()}"
    info, fields = None, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [violation.field for violation in bad.field_violations]
    return status, info, fields


def rest_details(reply: HttpReply) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    body = reply.json()
    assert isinstance(body, dict), reply.body
    info = next((d for d in body.get("details", []) if d.get("@type") == ERROR_INFO), None)
    fields = [
        violation["field"]
        for d in body.get("details", [])
        if d.get("@type") == BAD_REQUEST
        for violation in d.get("field_violations", d.get("fieldViolations", []))
    ]
    return body, info, fields


def assert_invalid_argument(error: grpc.RpcError, field: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    _, _, fields = details(error)
    assert any(f == field or f.startswith(field) for f in fields), (field, fields)
    assert field in (error.details() or ""), error.details()


def assert_rest_invalid_argument(reply: HttpReply, field: str) -> None:
    assert reply.status == 400, (reply.status, reply.body)
    body, _, fields = rest_details(reply)
    assert body["code"] == code_pb2.INVALID_ARGUMENT, body
    assert any(f == field or f.startswith(field) for f in fields), (field, body)


# ---- authentication --------------------------------------------------------------------------


def test_grpc_without_token_or_with_a_wrong_one_is_unauthenticated(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    # A project the organisation has read once, so that its answer sits in the cache.
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("authz")), metadata=gateway.auth_metadata
    ).project_hash
    cached = projects_pb2.GetProjectRequest(project_hash=project_hash)
    stubs.projects.GetProject(cached, metadata=gateway.auth_metadata)

    with no_upstream_call(sandbox):
        attempts: list[tuple[tuple[str, str], ...]] = [
            (),
            (("authorization", "Bearer not-the-token"),),
            (("authorization", f"Bearer {gateway.token}x"),),
            (("authorization", gateway.token),),  # no "Bearer "
            (("authorization", "Basic dXNlcjpwYXNz"),),
        ]
        for metadata in attempts:
            for call in (
                lambda md=metadata: stubs.projects.GetProject(cached, metadata=md),  # a cache hit for the right caller
                lambda md=metadata: stubs.projects.CreateProject(
                    projects_pb2.CreateProjectRequest(title="never made"), metadata=md
                ),
                lambda md=metadata: stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest(), metadata=md),
            ):
                error = rpc_error(call)
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (metadata, error.details())
                assert project_hash not in (error.details() or "")


def test_rest_without_token_or_with_a_wrong_one_is_401(gateway: GatewayProcess, sandbox: Sandbox) -> None:
    with no_upstream_call(sandbox):
        for token in (None, "not-the-token", gateway.token + "x"):
            for method, path, body in (
                ("GET", "/v1/projects", None),
                ("POST", "/v1/projects", {"title": "never made"}),
                ("GET", "/v1/ontologies", None),
            ):
                reply = gateway.rest(method, path, body=body, token=token)
                assert reply.status == 401, (token, path, reply.body)
                status, info, _ = rest_details(reply)
                assert status["code"] == code_pb2.UNAUTHENTICATED
                assert info is not None and info["reason"], status


# ---- unknown resources -------------------------------------------------------------------------


def test_unknown_project_is_not_found_with_encord_error_info(gateway: GatewayProcess, stubs: Stubs) -> None:
    missing = str(uuid.uuid4())
    error = rpc_error(
        lambda: stubs.projects.GetProject(
            projects_pb2.GetProjectRequest(project_hash=missing), metadata=gateway.auth_metadata
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
    status, info, _ = details(error)
    assert status.code == code_pb2.NOT_FOUND
    assert info is not None, status
    assert info.reason == "RESOURCE_NOT_FOUND_ERROR"
    assert "encord" in info.domain.lower(), info.domain


def test_unknown_dataset_and_ontology_are_not_found(gateway: GatewayProcess, stubs: Stubs) -> None:
    md = gateway.auth_metadata
    for call in (
        lambda: stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(dataset_hash=str(uuid.uuid4())), metadata=md),
        lambda: stubs.ontologies.GetOntology(
            ontologies_pb2.GetOntologyRequest(ontology_hash=str(uuid.uuid4())), metadata=md
        ),
    ):
        error = rpc_error(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        _, info, _ = details(error)
        assert info is not None and info.reason == "RESOURCE_NOT_FOUND_ERROR"
        assert "encord" in info.domain.lower()


def test_rest_unknown_project_is_404_with_error_info(gateway: GatewayProcess) -> None:
    reply = gateway.rest("GET", f"/v1/projects/{uuid.uuid4()}")
    assert reply.status == 404, reply.body
    status, info, _ = rest_details(reply)
    assert status["code"] == code_pb2.NOT_FOUND
    assert info is not None, status
    assert info["reason"] == "RESOURCE_NOT_FOUND_ERROR"
    assert "encord" in info["domain"].lower()


# ---- malformed input -----------------------------------------------------------------------------


def test_empty_or_blank_title_is_invalid_argument_naming_title(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox
) -> None:
    md = gateway.auth_metadata
    with no_upstream_call(sandbox):
        for title in ("", "   "):
            for call in (
                lambda t=title: stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title=t), metadata=md),
                lambda t=title: stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=t), metadata=md),
                lambda t=title: stubs.ontologies.CreateOntology(
                    ontologies_pb2.CreateOntologyRequest(title=t), metadata=md
                ),
            ):
                assert_invalid_argument(rpc_error(call), "title")
        assert_rest_invalid_argument(gateway.rest("POST", "/v1/projects", body={"title": ""}), "title")
        assert_rest_invalid_argument(gateway.rest("POST", "/v1/datasets", body={}), "title")


def test_bad_hashes_are_invalid_argument_naming_the_field(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox
) -> None:
    md = gateway.auth_metadata
    with no_upstream_call(sandbox):
        assert_invalid_argument(
            rpc_error(
                lambda: stubs.projects.GetProject(
                    projects_pb2.GetProjectRequest(project_hash="not-a-hash"), metadata=md
                )
            ),
            "project_hash",
        )
        assert_invalid_argument(
            rpc_error(lambda: stubs.projects.GetProject(projects_pb2.GetProjectRequest(), metadata=md)),
            "project_hash",
        )
        assert_invalid_argument(
            rpc_error(
                lambda: stubs.projects.CreateProject(
                    projects_pb2.CreateProjectRequest(title="ok", dataset_hashes=["not-a-hash"]), metadata=md
                )
            ),
            "dataset_hashes",
        )
        assert_invalid_argument(
            rpc_error(
                lambda: stubs.projects.CreateProject(
                    projects_pb2.CreateProjectRequest(title="ok", ontology_hash="not-a-hash"), metadata=md
                )
            ),
            "ontology_hash",
        )
        assert_invalid_argument(
            rpc_error(
                lambda: stubs.datasets.GetDataset(
                    datasets_pb2.GetDatasetRequest(dataset_hash="not-a-hash"), metadata=md
                )
            ),
            "dataset_hash",
        )
        assert_invalid_argument(
            rpc_error(
                lambda: stubs.ontologies.GetOntology(
                    ontologies_pb2.GetOntologyRequest(ontology_hash="../../etc"), metadata=md
                )
            ),
            "ontology_hash",
        )
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/projects/not-a-hash"), "project_hash")
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/datasets/not-a-hash"), "dataset_hash")
        assert_rest_invalid_argument(
            gateway.rest("POST", "/v1/projects", body={"title": "ok", "dataset_hashes": ["nope"]}), "dataset_hashes"
        )


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff\xff\xff\xff", id="truncated-varint"),
        pytest.param(b"\x0a\x05ab", id="truncated-string"),
        pytest.param(b"\x0a\x02\xff\xfe", id="invalid-utf8-title"),
    ],
)
def test_garbage_protobuf_bytes_are_invalid_argument(
    gateway: GatewayProcess, channel: grpc.Channel, sandbox: Sandbox, payload: bytes
) -> None:
    raw = channel.unary_unary(
        "/encord.gateway.v1.ProjectService/CreateProject",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with no_upstream_call(sandbox):
        error = rpc_error(lambda: raw(payload, metadata=gateway.auth_metadata, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    _, info, fields = details(error)
    assert info is not None
    assert fields, "no BadRequest field violation"


def test_rest_body_that_is_not_json_is_400(gateway: GatewayProcess, sandbox: Sandbox) -> None:
    with no_upstream_call(sandbox):
        for raw in (b"{not json", b"title=x", b"\xff\xfe"):
            reply = gateway.rest("POST", "/v1/projects", raw=raw)
            assert_rest_invalid_argument(reply, "(body)")
        assert_rest_invalid_argument(gateway.rest("POST", "/v1/projects", raw=b'["a list"]'), "(body)")


def test_rest_unknown_query_parameter_is_400_naming_it(gateway: GatewayProcess, sandbox: Sandbox) -> None:
    with no_upstream_call(sandbox):
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/projects?colour=red"), "colour")
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/datasets?title_eq=a&title_eq=b"), "title_eq")
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/projects?include_org_access=maybe"), "include_org_access")


def test_rest_values_of_the_wrong_type_name_their_field(gateway: GatewayProcess, sandbox: Sandbox) -> None:
    """A well-formed body or query string whose value does not fit the field: the violation names that field."""
    with no_upstream_call(sandbox):
        assert_rest_invalid_argument(gateway.rest("POST", "/v1/projects", body={"title": 5}), "title")
        assert_rest_invalid_argument(
            gateway.rest("POST", "/v1/projects", body={"title": "ok", "dataset_hashes": "not-a-list"}),
            "dataset_hashes",
        )
        assert_rest_invalid_argument(gateway.rest("GET", "/v1/projects?created_after=yesterday"), "created_after")
        assert_rest_invalid_argument(
            gateway.rest("POST", "/v1/projects", body={"title": "ok", "colour": "red"}), "colour"
        )


# ---- deadlines -----------------------------------------------------------------------------------


@pytest.fixture
def silent_upstream() -> Iterator[str]:
    """An "Encord" that accepts connections and never answers: only the caller's deadline can end a call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def upstream_project_gets(gateway: GatewayProcess) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(gateway.metrics())
        for sample in family.samples
        if sample.name == "encord_upstream_requests_total"
        and sample.labels.get("query_type") == "project"
        and sample.labels.get("query_method") == "GET"
    )


def test_a_short_deadline_ends_with_deadline_exceeded_not_a_hang(
    gateway_factory: Callable[..., GatewayProcess], silent_upstream: str
) -> None:
    stalled = gateway_factory(upstream=silent_upstream)
    md = stalled.auth_metadata
    with stalled.channel() as opened:
        projects = projects_pb2_grpc.ProjectServiceStub(opened)
        for timeout in (0.001, 0.1):
            for call in (
                lambda t=timeout: projects.GetProject(
                    projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())), metadata=md, timeout=t
                ),
                lambda t=timeout: projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md, timeout=t),
                lambda t=timeout: projects.CreateProject(
                    projects_pb2.CreateProjectRequest(title="deadline"), metadata=md, timeout=t
                ),
            ):
                started = time.monotonic()
                error = rpc_error(call)
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (error.code(), error.details())
                assert time.monotonic() - started < timeout + 2.0

        # The gateway gives up on Encord at the caller's deadline too, not after its 30 s default.
        before = upstream_project_gets(stalled)
        error = rpc_error(
            lambda: projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())), metadata=md, timeout=0.3
            )
        )
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 3.0
        while upstream_project_gets(stalled) <= before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream_project_gets(stalled) > before, "the upstream request outlived the caller's deadline"

        # It still answers promptly afterwards.
        health = opened.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        assert health(b"", timeout=5) == b"\x08\x01"  # status: SERVING
