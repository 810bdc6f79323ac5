"""Tenant isolation as a caller of the running gateway sees it (issue 4): two organisations, callers with
explicit policies, deny by default over gRPC and REST, no upstream call and no shared cache entry for a
denied or foreign caller, revoked and expired tokens, rate limits, and fuzzed credentials.

One gateway serves the module: organisations A and B (each a sandbox user whose key the vault holds,
each with a read/write caller made by `token issue --org`), an admin caller made with the CLI, and
further callers made through the admin API with the admin token.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import grpc
import pytest
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2, callers_pb2_grpc
from encord_gateway._generated.encord.gateway.v1 import (
    datasets_pb2,
    ontologies_pb2,
    options_pb2,
    projects_pb2,
)
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from google.api import field_behavior_pb2
from google.protobuf import descriptor, duration_pb2, json_format, message

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply, Sandbox, Stubs, Tenant

ORGANISATION_HEADER = "x-encord-organisation"
ADMIN_POLICY = {"grants": [{"organisation": "*", "resources": ["*"], "rights": ["admin"]}]}
KIND_OF = {
    options_pb2.RESOURCE_TYPE_PROJECT: "project",
    options_pb2.RESOURCE_TYPE_DATASET: "dataset",
    options_pb2.RESOURCE_TYPE_ONTOLOGY: "ontology",
    options_pb2.RESOURCE_TYPE_STORAGE_FOLDER: "storage_folder",
}
NEVER = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}
INTEGER_TYPES = {
    descriptor.FieldDescriptor.TYPE_INT32,
    descriptor.FieldDescriptor.TYPE_INT64,
    descriptor.FieldDescriptor.TYPE_UINT32,
    descriptor.FieldDescriptor.TYPE_UINT64,
}


@dataclass
class World:
    """The module's gateway, its two organisations, an admin token and each organisation's resources."""

    kit: GatewayKit
    gateway: GatewayProcess
    channel: grpc.Channel
    stubs: Stubs
    callers: callers_pb2_grpc.CallerAdminServiceStub
    a: Tenant
    b: Tenant
    admin_token: str
    resources: dict[str, dict[str, str]]  # organisation -> {"project": hash, "project2": ..., "dataset": ...}

    def admin_md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.admin_token}"),)

    def new_caller(self, policy: dict[str, Any], ttl_seconds: float | None = None) -> tuple[str, str, str]:
        """CreateCaller + IssueToken through the admin API: (name, token, token id)."""
        name = f"caller-{uuid.uuid4().hex[:10]}"
        self.callers.CreateCaller(
            callers_pb2.CreateCallerRequest(name=name, policy=json_format.ParseDict(policy, callers_pb2.Policy())),
            metadata=self.admin_md(),
        )
        request = callers_pb2.IssueTokenRequest(caller=name)
        if ttl_seconds is not None:
            request.ttl.CopyFrom(duration_pb2.Duration(seconds=int(ttl_seconds)))
        issued = self.callers.IssueToken(request, metadata=self.admin_md())
        assert issued.token and issued.metadata.token_id
        return name, issued.token, issued.metadata.token_id

    def rest(self, method: str, path: str, token: str, organisation: str | None = None, body: Any = None) -> HttpReply:
        headers = {"Authorization": f"Bearer {token}"}
        if organisation is not None:
            headers[ORGANISATION_HEADER] = organisation
        return self.kit.http(method, self.gateway.rest_url + path, body=body, headers=headers)

    def log_size(self, sandbox: Sandbox) -> int:
        return len(sandbox.requests_log())


def md(token: str, organisation: str | None = None) -> tuple[tuple[str, str], ...]:
    pairs = [("authorization", f"Bearer {token}")]
    if organisation is not None:
        pairs.append((ORGANISATION_HEADER, organisation))
    return tuple(pairs)


def grpc_fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


@pytest.fixture(scope="module")
def world(
    gateway_kit: GatewayKit,
    sandbox: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
    stubs_for: Callable[[grpc.Channel], Stubs],
) -> Iterator[World]:
    gateway = gateway_kit.start(tmp_path_factory.mktemp("access"), extra_organisations=1)
    a, b = gateway.tenants
    gateway_kit.create_caller(gateway.data_dir, "ops-admin", ADMIN_POLICY)
    admin_token, _ = gateway_kit.issue_token(gateway.data_dir, "ops-admin")
    opened = gateway.channel()
    stubs = stubs_for(opened)
    resources: dict[str, dict[str, str]] = {}
    for tenant in (a, b):
        auth = tenant.auth_metadata
        dataset = stubs.datasets.CreateDataset(
            datasets_pb2.CreateDatasetRequest(title=f"{tenant.organisation} dataset"), metadata=auth
        ).dataset_hash
        dataset2 = stubs.datasets.CreateDataset(
            datasets_pb2.CreateDatasetRequest(title=f"{tenant.organisation} second dataset"), metadata=auth
        ).dataset_hash
        ontology = stubs.ontologies.CreateOntology(
            ontologies_pb2.CreateOntologyRequest(title=f"{tenant.organisation} ontology"), metadata=auth
        ).ontology_hash
        project = stubs.projects.CreateProject(
            projects_pb2.CreateProjectRequest(
                title=f"{tenant.organisation} secret project", dataset_hashes=[dataset], ontology_hash=ontology
            ),
            metadata=auth,
        ).project_hash
        project2 = stubs.projects.CreateProject(
            projects_pb2.CreateProjectRequest(title=f"{tenant.organisation} other project"), metadata=auth
        ).project_hash
        resources[tenant.organisation] = {
            "project": project,
            "project2": project2,
            "dataset": dataset,
            "dataset2": dataset2,
            "ontology": ontology,
        }
    try:
        yield World(
            gateway_kit,
            gateway,
            opened,
            stubs,
            callers_pb2_grpc.CallerAdminServiceStub(opened),
            a,
            b,
            admin_token,
            resources,
        )
    finally:
        opened.close()
        gateway.stop()


# ---- requests for every data RPC, built from the catalog ------------------------------------------


def data_specs() -> list[OperationSpec]:
    """Every RPC that reaches Encord (the admin API aside), as the gateway's own catalog declares it."""
    return sorted((spec for spec in load_catalog().values() if spec.operation is not None), key=lambda s: s.full_name)


def _is_required(field: Any) -> bool:
    return field_behavior_pb2.REQUIRED in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]


def _is_uuid(field: Any) -> bool:
    return bool(field.GetOptions().Extensions[options_pb2.format] == options_pb2.FIELD_FORMAT_UUID)


def request_on(spec: OperationSpec, hashes: dict[str, str]) -> message.Message:
    """A valid request of `spec` naming the given organisation's resources: its resource field and every
    reference point at them, and other required fields get plausible values."""
    assert spec.operation is not None
    request = spec.request_class()
    kind = KIND_OF.get(spec.operation.resource_type)
    if spec.operation.resource_field:
        setattr(request, spec.operation.resource_field, hashes.get(kind or "", str(uuid.uuid4())))
    for reference in spec.operation.references:
        value = hashes.get(KIND_OF.get(reference.type, ""), str(uuid.uuid4()))
        field = request.DESCRIPTOR.fields_by_name[reference.field]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(request, reference.field).get_or_create(value)  # a map names resources by its keys
        elif field.is_repeated:
            getattr(request, reference.field).append(value)
        else:
            setattr(request, reference.field, value)
    _fill_required(request)
    return request


def _fill_required(msg: message.Message) -> None:
    """Plausible values for REQUIRED fields still unset, nested messages included, so that only the
    policy can refuse the request."""
    for field in msg.DESCRIPTOR.fields:
        if not _is_required(field):
            continue
        if field.type == field.TYPE_STRING and not getattr(msg, field.name):
            value = str(uuid.uuid4()) if _is_uuid(field) else "isolation probe"
            if field.is_repeated:
                getattr(msg, field.name).append(value)
            else:
                setattr(msg, field.name, value)
        elif field.type in INTEGER_TYPES and not field.is_repeated and not getattr(msg, field.name):
            setattr(msg, field.name, 1)
        elif field.type == field.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            entries = getattr(msg, field.name)
            if not entries:
                value = field.message_type.fields_by_name["value"]
                if value.type == value.TYPE_MESSAGE:
                    _fill_required(entries[str(uuid.uuid4())])
                else:
                    entries[str(uuid.uuid4())] = "isolation probe"
        elif field.type == field.TYPE_MESSAGE and field.is_repeated and not getattr(msg, field.name):
            _fill_required(getattr(msg, field.name).add())
        elif field.type == field.TYPE_ENUM and not getattr(msg, field.name):
            value = next(v.number for v in field.enum_type.values if v.number != 0)
            if field.is_repeated:
                getattr(msg, field.name).append(value)
            else:
                setattr(msg, field.name, value)
        elif field.type == field.TYPE_BYTES and not field.is_repeated and not getattr(msg, field.name):
            setattr(msg, field.name, b"isolation probe")
        elif field.cpp_type == field.CPPTYPE_DOUBLE and not field.is_repeated and not getattr(msg, field.name):
            setattr(msg, field.name, 1)
        elif field.type == field.TYPE_MESSAGE and not field.is_repeated and not msg.HasField(field.name):
            child = getattr(msg, field.name)
            if field.message_type.full_name == "google.protobuf.Struct":
                child.update({"probe": "isolation"})
            else:
                _fill_required(child)
                child.SetInParent()
        elif field.type == field.TYPE_MESSAGE and field.is_repeated and not getattr(msg, field.name):
            _fill_required(getattr(msg, field.name).add())
        elif field.type == field.TYPE_BYTES and not getattr(msg, field.name):
            setattr(msg, field.name, b"isolation probe")
        elif field.type == field.TYPE_ENUM and not getattr(msg, field.name):
            setattr(msg, field.name, next(v.number for v in field.enum_type.values if v.number != 0))


def grpc_call(world: World, spec: OperationSpec, request: message.Message, metadata: Any) -> Any:
    if spec.server_streaming:
        stream = world.channel.unary_stream(
            spec.grpc_path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=spec.response_class.FromString,
        )
        return list(stream(request, metadata=metadata, timeout=15))
    method = world.channel.unary_unary(
        spec.grpc_path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=spec.response_class.FromString,
    )
    return method(request, metadata=metadata, timeout=15)


def rest_call(
    world: World, spec: OperationSpec, request: message.Message, token: str, organisation: str | None
) -> HttpReply:
    assert spec.http is not None
    fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
    path = spec.http.template
    for name in spec.http.path_fields:
        path = path.replace("{" + name + "}", quote(str(fields.pop(name)), safe=""))
    body = None
    if spec.http.body == "*":
        body = fields
    elif spec.http.body:
        body = fields.pop(spec.http.body, None)  # a file stream's chunks are not required of its first message
    if fields and spec.http.body != "*":
        path += "?" + urlencode(fields, doseq=True)
    return world.rest(spec.http.verb.upper(), path, token, organisation, body=body)


# ---- the tests ------------------------------------------------------------------------------------


def test_caller_of_one_organisation_is_denied_every_rpc_on_the_other_organisations_resources_without_upstream_calls(
    world: World, sandbox: Sandbox
) -> None:
    specs = data_specs()
    names = {spec.full_name.rsplit(".", 2)[-2] + "." + spec.method for spec in specs}
    assert {
        "ProjectService.CreateProject", "ProjectService.GetProject", "ProjectService.ListProjects",
        "DatasetService.CreateDataset", "DatasetService.GetDataset", "DatasetService.ListDatasets",
        "OntologyService.CreateOntology", "OntologyService.GetOntology", "OntologyService.ListOntologies",
    } <= names  # fmt: skip
    b = world.b.organisation
    b_hashes = world.resources[b]
    before = world.log_size(sandbox)
    outcomes: dict[str, tuple[str, str]] = {}
    for spec in specs:
        request = request_on(spec, b_hashes)
        error = grpc_fails(lambda spec=spec, request=request: grpc_call(world, spec, request, md(world.a.token, b)))
        details = world.kit.grpc_error(error)
        rest = rest_call(world, spec, request, world.a.token, b) if spec.http is not None else None
        rest_details = world.kit.rest_error(rest) if rest is not None and rest.status != 200 else None
        outcomes[spec.full_name] = (details.code, "" if rest is None else f"{rest.status}")
        assert details.code == "PERMISSION_DENIED", (spec.full_name, details)
        assert details.reason == "POLICY_DENIED", (spec.full_name, details)
        assert rest is None or rest.status == 403, (spec.full_name, rest)
        assert rest_details is None or rest_details.reason == "POLICY_DENIED", (spec.full_name, rest_details)
        # Nothing of B's leaks through the refusal itself.
        for secret_title in (f"{b} secret project", f"{b} dataset", f"{b} ontology"):
            assert secret_title not in details.message
            assert rest is None or secret_title.encode() not in rest.body
    assert len(outcomes) == len(specs)
    assert world.log_size(sandbox) == before, "a denied call reached Encord"


def test_read_only_caller_can_read_but_cannot_create_projects_datasets_or_ontologies(
    world: World, sandbox: Sandbox
) -> None:
    a = world.a.organisation
    _, token, _ = world.new_caller({"grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}]})
    mine = world.resources[a]
    project = world.stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=mine["project"]), metadata=md(token)
    )
    assert project.title == f"{a} secret project"
    assert world.rest("GET", f"/v1/datasets/{mine['dataset']}", token).status == 200

    before = world.log_size(sandbox)
    writes: list[tuple[Callable[[], object], str, str, dict[str, Any]]] = [
        (
            lambda: world.stubs.projects.CreateProject(
                projects_pb2.CreateProjectRequest(title="ro project"), metadata=md(token)
            ),
            "POST",
            "/v1/projects",
            {"title": "ro project"},
        ),
        (
            lambda: world.stubs.datasets.CreateDataset(
                datasets_pb2.CreateDatasetRequest(title="ro dataset"), metadata=md(token)
            ),
            "POST",
            "/v1/datasets",
            {"title": "ro dataset"},
        ),
        (
            lambda: world.stubs.ontologies.CreateOntology(
                ontologies_pb2.CreateOntologyRequest(title="ro ontology"), metadata=md(token)
            ),
            "POST",
            "/v1/ontologies",
            {"title": "ro ontology"},
        ),
    ]
    for call, verb, path, body in writes:
        details = world.kit.grpc_error(grpc_fails(call))
        assert (details.code, details.reason) == ("PERMISSION_DENIED", "POLICY_DENIED"), details
        assert details.metadata.get("right") == "write", details
        reply = world.rest(verb, path, token, body=body)
        assert reply.status == 403, reply
        assert world.kit.rest_error(reply).reason == "POLICY_DENIED"
    assert world.log_size(sandbox) == before, "a refused write reached Encord"


def test_caller_limited_to_one_project_reads_it_but_not_another_project_nor_the_project_list(
    world: World, sandbox: Sandbox
) -> None:
    a = world.a.organisation
    mine = world.resources[a]
    policy = {"grants": [{"organisation": a, "resources": [f"project:{mine['project']}"], "rights": ["read"]}]}
    _, token, _ = world.new_caller(policy)

    allowed = world.stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=mine["project"]), metadata=md(token)
    )
    assert allowed.project_hash == mine["project"]
    assert world.rest("GET", f"/v1/projects/{mine['project']}", token).json()["project_hash"] == mine["project"]

    before = world.log_size(sandbox)
    other = world.kit.grpc_error(
        grpc_fails(
            lambda: world.stubs.projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=mine["project2"]), metadata=md(token)
            )
        )
    )
    assert other.code == "PERMISSION_DENIED", other
    listing = world.kit.grpc_error(
        grpc_fails(lambda: world.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md(token)))
    )
    assert listing.code == "PERMISSION_DENIED", listing
    assert world.rest("GET", f"/v1/projects/{mine['project2']}", token).status == 403
    assert world.rest("GET", "/v1/projects", token).status == 403
    # Nor does a project grant reach the project's dataset or ontology.
    assert world.rest("GET", f"/v1/datasets/{mine['dataset']}", token).status == 403
    assert world.rest("GET", f"/v1/ontologies/{mine['ontology']}", token).status == 403
    assert world.log_size(sandbox) == before


def test_create_project_naming_a_dataset_the_caller_may_not_read_is_denied(world: World, sandbox: Sandbox) -> None:
    a = world.a.organisation
    mine = world.resources[a]
    policy = {
        "grants": [
            {"organisation": a, "resources": ["project:*", f"dataset:{mine['dataset']}"], "rights": ["read", "write"]}
        ]
    }
    _, token, _ = world.new_caller(policy)
    before = world.log_size(sandbox)
    for foreign in (mine["dataset2"], world.resources[world.b.organisation]["dataset"]):
        request = projects_pb2.CreateProjectRequest(title="sneaky", dataset_hashes=[mine["dataset"], foreign])
        details = world.kit.grpc_error(
            grpc_fails(lambda request=request: world.stubs.projects.CreateProject(request, metadata=md(token)))
        )
        assert (details.code, details.reason) == ("PERMISSION_DENIED", "POLICY_DENIED"), details
        assert details.metadata.get("field") == "dataset_hashes", details
        assert foreign in details.message
        reply = world.rest(
            "POST", "/v1/projects", token, body={"title": "sneaky", "dataset_hashes": [mine["dataset"], foreign]}
        )
        assert reply.status == 403, reply
    # An ontology the caller holds no grant on is a reference it may not use either.
    details = world.kit.grpc_error(
        grpc_fails(
            lambda: world.stubs.projects.CreateProject(
                projects_pb2.CreateProjectRequest(title="sneaky", ontology_hash=mine["ontology"]), metadata=md(token)
            )
        )
    )
    assert details.code == "PERMISSION_DENIED", details
    assert world.log_size(sandbox) == before

    created = world.stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title="allowed", dataset_hashes=[mine["dataset"]]), metadata=md(token)
    )
    assert created.project_hash


def test_caller_of_two_organisations_must_name_one_and_only_one_of_its_own(world: World, sandbox: Sandbox) -> None:
    a, b = world.a.organisation, world.b.organisation
    policy = {
        "grants": [
            {"organisation": a, "resources": ["*"], "rights": ["read"]},
            {"organisation": b, "resources": ["*"], "rights": ["read"]},
        ]
    }
    _, token, _ = world.new_caller(policy)
    listing = projects_pb2.ListProjectsRequest()
    before = world.log_size(sandbox)

    missing = world.kit.grpc_error(grpc_fails(lambda: world.stubs.projects.ListProjects(listing, metadata=md(token))))
    assert missing.code == "INVALID_ARGUMENT", missing
    assert ORGANISATION_HEADER in missing.fields, missing
    assert ORGANISATION_HEADER in missing.message
    reply = world.rest("GET", "/v1/projects", token)
    assert reply.status == 400 and ORGANISATION_HEADER in world.kit.rest_error(reply).fields, reply

    outsider = f"org-{uuid.uuid4().hex[:8]}"
    foreign = world.kit.grpc_error(
        grpc_fails(lambda: world.stubs.projects.ListProjects(listing, metadata=md(token, outsider)))
    )
    assert (foreign.code, foreign.reason) == ("PERMISSION_DENIED", "POLICY_DENIED"), foreign
    assert world.rest("GET", "/v1/projects", token, outsider).status == 403
    assert world.log_size(sandbox) == before

    for organisation in (a, b):
        titles = {
            p.title for p in world.stubs.projects.ListProjects(listing, metadata=md(token, organisation)).projects
        }
        assert f"{organisation} secret project" in titles
        other = b if organisation == a else a
        assert not any(title.startswith(other) for title in titles), titles
        over_rest = world.rest("GET", "/v1/projects", token, organisation).json()
        assert {p["title"] for p in over_rest["projects"]} == titles


def test_revoked_tokens_are_unauthenticated_at_once_through_the_admin_api_and_the_cli(world: World) -> None:
    a = world.a.organisation
    policy = {"grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}]}
    name, token, token_id = world.new_caller(policy)
    listing = projects_pb2.ListProjectsRequest(title_like="%revocation%")
    world.stubs.projects.ListProjects(listing, metadata=md(token))
    assert world.rest("GET", "/v1/datasets", token).status == 200

    revoked = world.callers.RevokeToken(callers_pb2.RevokeTokenRequest(token_id=token_id), metadata=world.admin_md())
    assert revoked.token_id == token_id and revoked.HasField("revoked_at")
    details = world.kit.grpc_error(grpc_fails(lambda: world.stubs.projects.ListProjects(listing, metadata=md(token))))
    assert (details.code, details.reason) == ("UNAUTHENTICATED", "INVALID_TOKEN"), details
    assert world.rest("GET", "/v1/datasets", token).status == 401
    assert token not in details.message

    # The same through the CLI, on the running gateway's token store.
    cli_token, cli_token_id = world.kit.issue_token(world.gateway.data_dir, name)
    world.stubs.projects.ListProjects(listing, metadata=md(cli_token))
    world.kit.cli("token", "revoke", cli_token_id, "--data-dir", str(world.gateway.data_dir))
    details = world.kit.grpc_error(
        grpc_fails(lambda: world.stubs.projects.ListProjects(listing, metadata=md(cli_token)))
    )
    assert details.code == "UNAUTHENTICATED", details
    assert world.rest("GET", "/v1/datasets", cli_token).status == 401
    listed = world.callers.ListTokens(callers_pb2.ListTokensRequest(caller=name), metadata=world.admin_md())
    assert {t.token_id for t in listed.tokens if t.HasField("revoked_at")} == {token_id, cli_token_id}


def test_expired_tokens_are_unauthenticated_as_soon_as_they_expire(world: World) -> None:
    a = world.a.organisation
    policy = {"grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}]}
    name, short_lived, _ = world.new_caller(policy, ttl_seconds=2)
    listing = projects_pb2.ListProjectsRequest(title_like="%expiry%")
    issued_at = time.monotonic()
    world.stubs.projects.ListProjects(listing, metadata=md(short_lived))  # alive for now
    cli_token, _ = world.kit.issue_token(world.gateway.data_dir, name, "--expires-in", "1s")
    cli_issued_by = time.monotonic()  # the CLI token was issued before its command returned
    # Wait out both lifetimes (the CLI may take a while under load), with a little margin.
    time.sleep(max(0.0, max(issued_at + 2, cli_issued_by + 1) + 0.2 - time.monotonic()))
    for token in (short_lived, cli_token):
        details = world.kit.grpc_error(grpc_fails(lambda token=token: world.stubs.projects.ListProjects(listing, metadata=md(token))))  # fmt: skip
        assert (details.code, details.reason) == ("UNAUTHENTICATED", "INVALID_TOKEN"), details
        assert world.rest("GET", "/v1/projects", token).status == 401


def test_warm_cache_entry_of_one_organisation_is_never_served_to_another(world: World, sandbox: Sandbox) -> None:
    a, b = world.a.organisation, world.b.organisation
    a_project = world.resources[a]["project"]
    request = projects_pb2.GetProjectRequest(project_hash=a_project)
    world.stubs.projects.GetProject(request, metadata=world.a.auth_metadata)
    _, call = world.stubs.projects.GetProject.with_call(request, metadata=world.a.auth_metadata)
    assert dict(call.initial_metadata()).get("x-cache") == "hit"

    def gets_by(email: str) -> int:
        return sum(
            1
            for e in sandbox.requests_log()
            if e["query_type"] == "project" and e["query_method"] == "GET" and e["resource_id"] == a_project
            and e["user"] == email
        )  # fmt: skip

    # B's own caller: its own upstream call, signed by B's key, and Encord's answer for B.
    before = gets_by(world.b.user.email)
    error = grpc_fails(lambda: world.stubs.projects.GetProject(request, metadata=world.b.auth_metadata))
    assert world.kit.grpc_error(error).code in ("NOT_FOUND", "PERMISSION_DENIED")
    assert gets_by(world.b.user.email) == before + 1
    reply = world.rest("GET", f"/v1/projects/{a_project}", world.b.token)
    assert reply.status in (403, 404) and f"{a} secret project".encode() not in reply.body
    assert reply.headers.get("x-cache") != "hit"

    # One caller allowed in both organisations: the entry A's call filled is not served when it acts for B.
    both = {
        "grants": [
            {"organisation": a, "resources": ["*"], "rights": ["read"]},
            {"organisation": b, "resources": ["*"], "rights": ["read"]},
        ]
    }
    _, token, _ = world.new_caller(both)
    as_a, call = world.stubs.projects.GetProject.with_call(request, metadata=md(token, a))
    assert as_a.title == f"{a} secret project"
    before = gets_by(world.b.user.email)
    error = grpc_fails(lambda: world.stubs.projects.GetProject(request, metadata=md(token, b)))
    assert world.kit.grpc_error(error).code in ("NOT_FOUND", "PERMISSION_DENIED")
    assert gets_by(world.b.user.email) == before + 1

    # Listings: B's list (cached or not) is B's own.
    world.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md(token, a))
    as_b = world.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md(token, b))
    assert a_project not in {p.project_hash for p in as_b.projects}
    assert world.resources[b]["project"] in {p.project_hash for p in as_b.projects}


def _random_values(rng: random.Random, valid_token: str) -> list[tuple[str | None, str | None]]:
    """(authorization, x-encord-organisation) pairs: malformed, random, huge, empty, wrong schemes."""

    def blob(size: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(size))

    tokens: list[str] = [
        "", " ", "Bearer", "Bearer ", "Bearer  ", "bearer", "BEARER x", "Basic dXNlcjpwYXNz", "Token abc",
        "Bearer Bearer", "Bearer " + valid_token[:-1], "Bearer " + valid_token + "x", "Bearer " + valid_token.upper(),
        valid_token, "Bearer\t" + valid_token, "Bearer " + "A" * 5000, "Bearer " + "A" * 4090, "Bearer " + "A" * 20000, "x" * 4097,
        "Bearer null", "Bearer undefined", "Bearer ../../etc/passwd", "Bearer '; DROP TABLE tokens; --",
        "Bearer %00", "Bearer \\x00", "Bearer tok_0000", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    ]  # fmt: skip
    for _ in range(60):
        raw = blob(rng.randint(1, 96))
        encoded = rng.choice([base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex()])
        tokens.append(rng.choice(["Bearer ", "bearer ", "", "Bearer  ", "Digest "]) + encoded)
    organisations: list[str | None] = [
        None, "", " ", "*", "..", "../" * 30, "x" * 201, "x" * 5000, "org\\name", "%2e%2e", "{}", "[]", "null",
        "' OR '1'='1", "org-" + uuid.uuid4().hex, "-", "a b c",
    ]  # fmt: skip
    pairs: list[tuple[str | None, str | None]] = [(t, None) for t in tokens]
    pairs += [("Bearer " + valid_token, o) for o in organisations]
    while len(pairs) < 200:
        raw = blob(rng.randint(1, 64))
        pairs.append((rng.choice(tokens), rng.choice([base64.b64encode(raw).decode(), raw.hex(), None])))
    return pairs


def _grpc_sendable(value: str | None) -> bool:
    """Non-binary gRPC metadata values are printable ASCII (the client refuses anything else)."""
    return value is None or all(" " <= ch <= "~" for ch in value)


def test_hundreds_of_random_and_malformed_credentials_never_yield_internal_errors(world: World) -> None:
    a = world.a.organisation
    _, valid, _ = world.new_caller({"grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}]})
    rng = random.Random(20240604)
    pairs = _random_values(rng, valid)
    request = projects_pb2.GetProjectRequest(project_hash=world.resources[a]["project"])
    seen_grpc: dict[str, int] = {}
    for authorization, organisation in pairs:
        if not all(_grpc_sendable(v) for v in (authorization, organisation)):
            continue  # the gRPC client itself refuses such metadata; REST below sends it
        metadata = []
        if authorization is not None:
            metadata.append(("authorization", authorization))
        if organisation is not None:
            metadata.append((ORGANISATION_HEADER, organisation))
        try:
            world.stubs.projects.GetProject(request, metadata=tuple(metadata), timeout=10)
            code = "OK"
        except grpc.RpcError as error:
            code = error.code().name
            assert code not in NEVER, (authorization, organisation, world.kit.grpc_error(error))
        seen_grpc[code] = seen_grpc.get(code, 0) + 1
    # Binary metadata (the -bin suffix) carries arbitrary bytes; the gateway must ignore or refuse it.
    for _ in range(20):
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        for key in ("authorization-bin", "x-encord-organisation-bin"):
            try:
                world.stubs.projects.GetProject(request, metadata=((key, raw),), timeout=10)
            except grpc.RpcError as error:
                assert error.code().name not in NEVER, (key, raw)
    assert seen_grpc.get("UNAUTHENTICATED", 0) > 50, seen_grpc
    assert "OK" in seen_grpc, seen_grpc

    # REST: the same values, plus raw non-ASCII header bytes (HTTP allows obs-text), over one connection.
    target = urlsplit(world.gateway.rest_url)
    path = f"/v1/projects/{world.resources[a]['project']}"
    unicode_values = [
        "Bearer é€😀".encode(), "Bearer \xff\xfe".encode("latin-1"), "ünïcödé".encode(), b"Bearer \x80\x81\x82",
        ("Bearer " + valid).encode() + b"\xc3\xa9", "x-org-ø".encode(),
    ]  # fmt: skip
    seen_rest: dict[int, int] = {}

    def send(headers: list[tuple[str, bytes]]) -> int:
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=10)
        try:
            connection.putrequest("GET", path)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    for authorization, organisation in pairs:
        headers = []
        if authorization is not None:
            headers.append(("Authorization", authorization.encode("latin-1")))
        if organisation is not None:
            headers.append((ORGANISATION_HEADER, organisation.encode("latin-1")))
        status = send(headers)
        assert status < 500, (authorization, organisation, status)
        seen_rest[status] = seen_rest.get(status, 0) + 1
    for value in unicode_values:
        for headers in (
            [("Authorization", value)],
            [("Authorization", ("Bearer " + valid).encode()), (ORGANISATION_HEADER, value)],
        ):
            status = send(headers)
            assert status < 500, (headers, status)
    assert seen_rest.get(401, 0) > 50, seen_rest
    assert 200 in seen_rest, seen_rest
    assert world.gateway.process.poll() is None


def test_caller_over_its_rate_limit_gets_resource_exhausted_with_a_retry_delay_and_recovers(world: World) -> None:
    a = world.a.organisation
    policy = {
        "grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}],
        "limits": {"requests_per_second": 2, "burst": 2},
    }
    _, token, _ = world.new_caller(policy)
    request = projects_pb2.GetProjectRequest(project_hash=world.resources[a]["project"])

    def get() -> object:
        return world.stubs.projects.GetProject(request, metadata=md(token))

    # gRPC: the burst passes, the next call is refused with RetryInfo, and after that delay a call passes.
    for _ in range(2):
        get()
    details = world.kit.grpc_error(grpc_fails(get))
    assert (details.code, details.reason) == ("RESOURCE_EXHAUSTED", "CALLER_RATE_LIMITED"), details
    assert details.retry_delay is not None and 0 < details.retry_delay <= 1.0, details
    time.sleep(details.retry_delay + 0.05)
    assert get()

    # REST shares the caller's bucket: 429 with the same Status and RetryInfo, then recovery.
    path = f"/v1/projects/{world.resources[a]['project']}"
    statuses = [world.rest("GET", path, token).status for _ in range(3)]
    assert 429 in statuses, statuses
    refused = world.rest("GET", path, token)
    assert refused.status == 429, refused
    rest_details = world.kit.rest_error(refused)
    assert rest_details.code == "RESOURCE_EXHAUSTED" and rest_details.reason == "CALLER_RATE_LIMITED", rest_details
    assert rest_details.retry_delay is not None and 0 < rest_details.retry_delay <= 1.0, rest_details
    time.sleep(rest_details.retry_delay + 0.05)
    recovered = world.rest("GET", path, token)
    assert recovered.status == 200, recovered
    assert json.loads(recovered.body)["project_hash"] == world.resources[a]["project"]


def test_admin_token_alone_reads_no_data(world: World, sandbox: Sandbox) -> None:
    """The admin caller administers; its policy holds no read right, so data calls are denied too."""
    before = world.log_size(sandbox)
    details = world.kit.grpc_error(
        grpc_fails(
            lambda: world.stubs.projects.ListProjects(
                projects_pb2.ListProjectsRequest(), metadata=md(world.admin_token, world.a.organisation)
            )
        )
    )
    assert details.code == "PERMISSION_DENIED", details
    assert world.log_size(sandbox) == before


def test_caller_granted_one_named_method_may_call_only_that_method(world: World, sandbox: Sandbox) -> None:
    a = world.a.organisation
    mine = world.resources[a]
    policy = {"grants": [{"organisation": a, "resources": ["*"], "rights": ["ProjectService.GetProject"]}]}
    _, token, _ = world.new_caller(policy)
    got = world.stubs.projects.GetProject(
        projects_pb2.GetProjectRequest(project_hash=mine["project"]), metadata=md(token)
    )
    assert got.project_hash == mine["project"]
    before = world.log_size(sandbox)
    for call in (
        lambda: world.stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=md(token)),
        lambda: world.stubs.datasets.GetDataset(
            datasets_pb2.GetDatasetRequest(dataset_hash=mine["dataset"]), metadata=md(token)
        ),
        lambda: world.stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title="no"), metadata=md(token)),
    ):
        assert world.kit.grpc_error(grpc_fails(call)).code == "PERMISSION_DENIED"
    assert world.rest("GET", "/v1/projects", token).status == 403
    assert world.log_size(sandbox) == before


def test_policy_changes_and_caller_deletion_take_effect_on_the_next_call(world: World, sandbox: Sandbox) -> None:
    a = world.a.organisation
    mine = world.resources[a]
    name, token, _ = world.new_caller({"grants": [{"organisation": a, "resources": ["*"], "rights": ["read"]}]})
    request = projects_pb2.GetProjectRequest(project_hash=mine["project"])
    world.stubs.projects.GetProject(request, metadata=md(token))

    narrowed = {"grants": [{"organisation": a, "resources": [f"project:{mine['project2']}"], "rights": ["read"]}]}
    world.callers.SetCallerPolicy(
        callers_pb2.SetCallerPolicyRequest(name=name, policy=json_format.ParseDict(narrowed, callers_pb2.Policy())),
        metadata=world.admin_md(),
    )
    before = world.log_size(sandbox)
    details = world.kit.grpc_error(grpc_fails(lambda: world.stubs.projects.GetProject(request, metadata=md(token))))
    assert details.code == "PERMISSION_DENIED", details  # even though the answer is in the cache
    assert world.log_size(sandbox) == before
    world.stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=mine["project2"]), metadata=md(token))

    deleted = world.callers.DeleteCaller(callers_pb2.DeleteCallerRequest(name=name), metadata=world.admin_md())
    assert deleted.revoked_tokens == 1
    details = world.kit.grpc_error(
        grpc_fails(
            lambda: world.stubs.projects.GetProject(
                projects_pb2.GetProjectRequest(project_hash=mine["project2"]), metadata=md(token)
            )
        )
    )
    assert details.code == "UNAUTHENTICATED", details
    assert world.rest("GET", f"/v1/projects/{mine['project2']}", token).status == 401
