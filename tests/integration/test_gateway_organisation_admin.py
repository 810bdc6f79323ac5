"""Organisation administration through a real gateway (issue 14): who may administer, what a caller sees of it
over gRPC and REST, and how it reaches the sandbox.

The session's gateway serves the module with its organisation and two callers: the organisation's `read`+`write`
caller made by `token issue --org`, and an administrator holding `administer` too, added here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import grpc
import pytest
from encord import EncordUserClient
from encord_gateway._generated.encord.gateway.v1 import (
    common_pb2,
    datasets_pb2,
    datasets_pb2_grpc,
    ontologies_pb2,
    ontologies_pb2_grpc,
    options_pb2,
    organisation_pb2,
    organisation_pb2_grpc,
    projects_pb2,
    projects_pb2_grpc,
)
from encord_gateway.operations.catalog import OperationSpec, load_catalog
from google.api import field_behavior_pb2
from google.protobuf import json_format, message, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, HttpReply, Sandbox

G, P, D, O = organisation_pb2, projects_pb2, datasets_pb2, ontologies_pb2  # noqa: E741 (O: ontologies)
ADMINISTRATION = {
    "OrganisationService.AddOrganisationUser",
    "OrganisationService.RemoveOrganisationUser",
    "GroupService.CreateGroup",
    "GroupService.DeleteGroup",
    "GroupService.UpdateGroup",
    "GroupService.AddGroupUsers",
    "GroupService.RemoveGroupUsers",
    "ProjectService.AddProjectUsers",
    "ProjectService.RemoveProjectUsers",
    "ProjectService.AddProjectGroups",
    "ProjectService.RemoveProjectGroups",
    "DatasetService.AddDatasetUsers",
    "DatasetService.RemoveDatasetUsers",
    "DatasetService.AddDatasetGroups",
    "DatasetService.RemoveDatasetGroups",
    "OntologyService.AddOntologyGroups",
    "OntologyService.RemoveOntologyGroups",
    "StorageService.AddStorageFolderGroups",
    "StorageService.RemoveStorageFolderGroups",
}


@dataclass
class Org:
    """The module's gateway, its sandbox organisation, and the stubs of both callers."""

    kit: GatewayKit
    gateway: GatewayProcess
    sandbox: Sandbox
    channel: grpc.Channel
    admin_token: str

    @property
    def writer(self) -> tuple[tuple[str, str], ...]:
        """The organisation's read/write caller."""
        return self.gateway.auth_metadata

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.admin_token}"),)

    @property
    def email(self) -> str:
        """The Encord user whose key the gateway holds: the admin of its sandbox organisation."""
        return self.gateway.user.email

    @property
    def organisation(self) -> organisation_pb2_grpc.OrganisationServiceStub:
        return organisation_pb2_grpc.OrganisationServiceStub(self.channel)

    @property
    def groups(self) -> organisation_pb2_grpc.GroupServiceStub:
        return organisation_pb2_grpc.GroupServiceStub(self.channel)

    @property
    def projects(self) -> projects_pb2_grpc.ProjectServiceStub:
        return projects_pb2_grpc.ProjectServiceStub(self.channel)

    @property
    def datasets(self) -> datasets_pb2_grpc.DatasetServiceStub:
        return datasets_pb2_grpc.DatasetServiceStub(self.channel)

    @property
    def ontologies(self) -> ontologies_pb2_grpc.OntologyServiceStub:
        return ontologies_pb2_grpc.OntologyServiceStub(self.channel)

    def rest(self, method: str, path: str, token: str | None = None, body: Any = None) -> HttpReply:
        return self.gateway.rest(method, path, body=body, token=token or self.admin_token)

    def upstream_calls(self) -> int:
        return len(self.sandbox.requests_log())

    def new_project(self, title: str = "Project") -> str:
        return self.projects.CreateProject(P.CreateProjectRequest(title=title), metadata=self.writer).project_hash

    def new_member(self) -> tuple[str, EncordUserClient]:
        """An organisation member added through the gateway, who then signs up with a key of its own."""
        email = f"member-{uuid.uuid4().hex[:10]}@sandbox.test"
        self.organisation.AddOrganisationUser(
            G.AddOrganisationUserRequest(
                email=email,
                role_mnemonic_name=G.ORGANISATION_ROLE_MEMBER,
                member_type=G.ORGANISATION_MEMBER_TYPE_INTERNAL,
            ),
            metadata=self.admin,
        )
        user = self.sandbox.new_user(email)
        return email, EncordUserClient.create_with_ssh_private_key(user.openssh, domain=self.sandbox.url)


@pytest.fixture(scope="module")
def org(gateway_kit: GatewayKit, gateway: GatewayProcess, sandbox: Sandbox) -> Iterator[Org]:
    """The shared gateway, with an administrator caller added to its organisation."""
    name = f"org-administrator-{uuid.uuid4().hex[:8]}"
    policy = {
        "grants": [
            {"organisation": gateway.organisation, "resources": ["*"], "rights": ["read", "write", "administer"]}
        ]
    }
    gateway_kit.create_caller(gateway.data_dir, name, policy)
    token, _ = gateway_kit.issue_token(gateway.data_dir, name)
    with gateway.channel() as channel:
        yield Org(gateway_kit, gateway, sandbox, channel, token)


def fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


# ---- every administration RPC, from the catalog ------------------------------------------------------


def administration_specs() -> list[OperationSpec]:
    specs = [s for s in load_catalog().values() if s.operation and s.operation.access == options_pb2.ACCESS_ADMINISTER]
    return sorted(specs, key=lambda s: s.full_name)


def short(spec: OperationSpec) -> str:
    return f"{spec.service.rsplit('.', 1)[1]}.{spec.method}"


def probe_request(spec: OperationSpec, hashes: dict[str, str]) -> message.Message:
    """A well-formed request of `spec` on the organisation's own resources (probe values elsewhere)."""
    request = spec.request_class()
    for field in request.DESCRIPTOR.fields:
        if field_behavior_pb2.REQUIRED not in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]:
            continue
        if field.type == field.TYPE_ENUM:
            value: Any = field.enum_type.values[1].number
        elif field.name == "email" or field.name == "user_emails":
            value = "probe@sandbox.test"
        else:
            value = hashes.get(field.name.removesuffix("_hash"), str(uuid.uuid4()))
        if field.is_repeated:
            getattr(request, field.name).append(value)
        else:
            setattr(request, field.name, value)
    return request


def rest_of(spec: OperationSpec, request: message.Message) -> tuple[str, str, Any]:
    """The REST verb, path (with query) and body of a request, by its google.api.http binding."""
    assert spec.http is not None
    fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
    path = spec.http.template
    for name in spec.http.path_fields:
        path = path.replace("{" + name + "}", quote(str(fields.pop(name)), safe=""))
    if spec.http.body == "*":
        return spec.http.verb, path, fields
    return spec.http.verb, path + ("?" + urlencode(fields, doseq=True) if fields else ""), None


@pytest.fixture(scope="module")
def own(org: Org) -> dict[str, str]:
    """A project, dataset and ontology of the organisation, for the probes to name."""
    project = org.new_project("Probed")
    dataset = org.datasets.CreateDataset(D.CreateDatasetRequest(title="Probed"), metadata=org.writer).dataset_hash
    ontology = org.ontologies.CreateOntology(O.CreateOntologyRequest(title="Probed"), metadata=org.writer)
    return {"project": project, "dataset": dataset, "ontology": ontology.ontology_hash}


def test_every_administration_rpc_is_declared_so() -> None:
    assert {short(s) for s in administration_specs()} == ADMINISTRATION


def test_a_read_write_caller_is_denied_every_administration_rpc_without_an_upstream_call(
    org: Org, own: dict[str, str]
) -> None:
    before = org.upstream_calls()
    for spec in administration_specs():
        request = probe_request(spec, own)
        method = org.channel.unary_unary(
            spec.grpc_path, lambda m: m.SerializeToString(), spec.response_class.FromString
        )

        details = org.kit.grpc_error(fails(lambda m=method, r=request: m(r, metadata=org.writer, timeout=15)))
        verb, path, body = rest_of(spec, request)
        reply = org.rest(verb, path, token=org.gateway.token, body=body)

        assert (details.code, details.reason, details.metadata.get("right")) == (
            "PERMISSION_DENIED",
            "POLICY_DENIED",
            "administer",
        ), short(spec)
        assert reply.status == 403 and org.kit.rest_error(reply).reason == "POLICY_DENIED", (short(spec), reply)
    assert org.upstream_calls() == before, "a denied administration call reached Encord"


def test_with_the_administer_right_every_administration_rpc_reaches_encord(org: Org, own: dict[str, str]) -> None:
    for spec in administration_specs():
        request = probe_request(spec, own)
        method = org.channel.unary_unary(
            spec.grpc_path, lambda m: m.SerializeToString(), spec.response_class.FromString
        )
        before = org.upstream_calls()
        try:
            method(request, metadata=org.admin, timeout=15)
        except grpc.RpcError as error:  # the probes name groups and users Encord may not have: its refusal is fine
            assert org.kit.grpc_error(error).reason != "POLICY_DENIED", short(spec)
        assert org.upstream_calls() == before + 1, short(spec)


# ---- the organisation administered through the gateway ----------------------------------------------


def test_a_group_granted_a_project_shows_it_to_its_member_until_the_grant_is_revoked(org: Org) -> None:
    email, member = org.new_member()
    group = org.groups.CreateGroup(G.CreateGroupRequest(name="Labellers"), metadata=org.admin)
    users = org.groups.AddGroupUsers(
        G.AddGroupUsersRequest(group_hash=group.group_hash, user_emails=[email]), metadata=org.admin
    )
    assert {u.user_email for u in users.users} == {org.email, email}
    project = org.new_project("Shared through a group")
    assert [p.title for p in member.list_projects()] == []

    org.projects.AddProjectGroups(
        P.AddProjectGroupsRequest(
            project_hash=project, group_hash_list=[group.group_hash], user_role=common_pb2.PROJECT_USER_ROLE_REVIEWER
        ),
        metadata=org.admin,
    )

    assert [p.title for p in member.list_projects()] == ["Shared through a group"]
    listed = org.projects.ListProjectGroups(P.ListProjectGroupsRequest(project_hash=project), metadata=org.writer)
    assert [(g.group_hash, g.name, g.is_same_organisation, g.user_role) for g in listed.groups] == [
        (group.group_hash, "Labellers", True, common_pb2.PROJECT_USER_ROLE_REVIEWER)
    ]

    org.projects.RemoveProjectGroups(
        P.RemoveProjectGroupsRequest(project_hash=project, group_hash_list=[group.group_hash]), metadata=org.admin
    )

    assert [p.title for p in member.list_projects()] == []
    listed = org.projects.ListProjectGroups(P.ListProjectGroupsRequest(project_hash=project), metadata=org.writer)
    assert list(listed.groups) == []  # the grant invalidated the cached listing


def test_members_are_listed_and_removed_over_rest_with_the_email_in_the_path(org: Org) -> None:
    email, _ = org.new_member()

    listed = org.rest("GET", "/v1/organisation/users").json()["users"]
    assert {u["email"]: u["role_mnemonic_name"] for u in listed}[email] == "ORGANISATION_ROLE_MEMBER"
    reply = org.rest("DELETE", f"/v1/organisation/users/{quote(email, safe='')}")
    assert reply.status == 200, reply

    emails = [
        u.email
        for u in org.organisation.ListOrganisationUsers(G.ListOrganisationUsersRequest(), metadata=org.writer).users
    ]
    assert email not in emails and org.email in emails
    gone = org.kit.rest_error(org.rest("DELETE", f"/v1/organisation/users/{quote(email, safe='')}"))
    assert gone.code == "NOT_FOUND", gone
    existing = G.AddOrganisationUserRequest(
        email=org.email, role_mnemonic_name=G.ORGANISATION_ROLE_MEMBER, member_type=G.ORGANISATION_MEMBER_TYPE_INTERNAL
    )
    again = org.kit.grpc_error(fails(lambda: org.organisation.AddOrganisationUser(existing, metadata=org.admin)))
    assert again.code == "ALREADY_EXISTS", again


def test_groups_are_renamed_and_deleted_and_listings_follow(org: Org) -> None:
    before = {g.group_hash for g in org.groups.ListGroups(G.ListGroupsRequest(), metadata=org.writer).groups}
    group = org.groups.CreateGroup(G.CreateGroupRequest(name="Temporary", description="a week"), metadata=org.admin)
    listed = org.groups.ListGroups(G.ListGroupsRequest(), metadata=org.writer).groups
    assert {g.group_hash for g in listed} == before | {group.group_hash}

    renamed = org.groups.UpdateGroup(
        G.UpdateGroupRequest(group_hash=group.group_hash, name="Permanent"), metadata=org.admin
    )
    assert (renamed.name, renamed.description) == ("Permanent", "a week")
    assert org.groups.GetGroup(G.GetGroupRequest(group_hash=group.group_hash), metadata=org.writer).name == "Permanent"

    org.groups.DeleteGroup(G.DeleteGroupRequest(group_hash=group.group_hash), metadata=org.admin)
    gone = org.kit.grpc_error(
        fails(lambda: org.groups.GetGroup(G.GetGroupRequest(group_hash=group.group_hash), metadata=org.writer))
    )
    assert gone.code == "NOT_FOUND", gone


def test_bad_administration_input_is_refused_before_encord(org: Org, own: dict[str, str]) -> None:
    before = org.upstream_calls()
    refusals = [
        lambda: org.projects.AddProjectGroups(
            P.AddProjectGroupsRequest(
                project_hash=own["project"],
                group_hash_list=["not-a-uuid"],
                user_role=common_pb2.PROJECT_USER_ROLE_ANNOTATOR,
            ),
            metadata=org.admin,
        ),
        lambda: org.organisation.AddOrganisationUser(
            G.AddOrganisationUserRequest(email="x@sandbox.test", member_type=G.ORGANISATION_MEMBER_TYPE_INTERNAL),
            metadata=org.admin,
        ),
        lambda: org.groups.CreateGroup(G.CreateGroupRequest(description="nameless"), metadata=org.admin),
        lambda: org.organisation.SaveClientMetadataSchema(G.SaveClientMetadataSchemaRequest(), metadata=org.writer),
    ]
    fields = []
    for call in refusals:
        details = org.kit.grpc_error(fails(call))
        assert details.code == "INVALID_ARGUMENT", details
        fields.append(details.fields)

    assert fields == [("group_hash_list[0]",), ("role_mnemonic_name",), ("name",), ("schema",)]
    assert org.upstream_calls() == before


# ---- projects, datasets and ontologies --------------------------------------------------------------


def test_project_users_page_and_status_changes_are_seen_at_once(org: Org) -> None:
    project = org.new_project("Staffed")
    added = org.projects.AddProjectUsers(
        P.AddProjectUsersRequest(
            project_hash=project,
            user_emails=["ann@sandbox.test", "bob@sandbox.test"],
            user_role=common_pb2.PROJECT_USER_ROLE_ANNOTATOR,
        ),
        metadata=org.admin,
    )
    assert [(u.user_email, u.user_role, u.project_hash) for u in added.users] == [
        ("ann@sandbox.test", common_pb2.PROJECT_USER_ROLE_ANNOTATOR, project),
        ("bob@sandbox.test", common_pb2.PROJECT_USER_ROLE_ANNOTATOR, project),
    ]
    first = org.projects.ListProjectUsers(
        P.ListProjectUsersRequest(project_hash=project, page_size=2), metadata=org.writer
    )
    rest = org.projects.ListProjectUsers(
        P.ListProjectUsersRequest(project_hash=project, page_token=first.next_page_token), metadata=org.writer
    )
    assert [u.user_email for u in [*first.users, *rest.users]] == sorted(
        ["ann@sandbox.test", "bob@sandbox.test", org.email]
    )
    assert rest.next_page_token == ""
    org.projects.RemoveProjectUsers(
        P.RemoveProjectUsersRequest(project_hash=project, user_emails=["ann@sandbox.test"]), metadata=org.admin
    )
    listed = org.projects.ListProjectUsers(P.ListProjectUsersRequest(project_hash=project), metadata=org.writer)
    assert "ann@sandbox.test" not in {u.user_email for u in listed.users}

    refetch = P.RefetchProjectRequest(project_hash=project)
    assert org.projects.RefetchProject(refetch, metadata=org.writer).status == common_pb2.PROJECT_STATUS_NOT_STARTED
    org.projects.SetProjectStatus(
        P.SetProjectStatusRequest(project_hash=project, status=common_pb2.PROJECT_STATUS_PAUSED), metadata=org.writer
    )
    assert org.projects.RefetchProject(refetch, metadata=org.writer).status == common_pb2.PROJECT_STATUS_PAUSED


def test_datasets_are_attached_and_detached_with_the_project_answered(org: Org) -> None:
    project = org.new_project("With data")
    dataset = org.datasets.CreateDataset(D.CreateDatasetRequest(title="Frames"), metadata=org.writer).dataset_hash

    attached = org.projects.AddProjectDatasets(
        P.AddProjectDatasetsRequest(project_hash=project, dataset_hashes=[dataset]), metadata=org.writer
    )
    assert attached.project_hash == project and attached.title == "With data"
    listed = org.projects.ListProjectDatasets(P.ListProjectDatasetsRequest(project_hash=project), metadata=org.writer)
    assert [(d.dataset_hash, d.title) for d in listed.datasets] == [(dataset, "Frames")]

    org.projects.RemoveProjectDatasets(
        P.RemoveProjectDatasetsRequest(project_hash=project, dataset_hashes=[dataset]), metadata=org.writer
    )
    listed = org.projects.ListProjectDatasets(P.ListProjectDatasetsRequest(project_hash=project), metadata=org.writer)
    assert list(listed.datasets) == []


def test_a_project_is_copied_over_rest_with_its_datasets_and_collaborators(org: Org) -> None:
    email, member = org.new_member()
    project = org.new_project("Original")
    dataset = org.datasets.CreateDataset(D.CreateDatasetRequest(title="Kept"), metadata=org.writer).dataset_hash
    org.projects.AddProjectDatasets(
        P.AddProjectDatasetsRequest(project_hash=project, dataset_hashes=[dataset]), metadata=org.writer
    )
    org.projects.AddProjectUsers(
        P.AddProjectUsersRequest(
            project_hash=project, user_emails=[email], user_role=common_pb2.PROJECT_USER_ROLE_VIEWER
        ),
        metadata=org.admin,
    )

    body = {
        "copy_project_options": ["PROJECT_COPY_OPTION_DATASETS", "PROJECT_COPY_OPTION_COLLABORATORS"],
        "copy_labels_options": {"accepted_label_hashes": []},
        "project_copy_metadata": {"project_title": "Round 2"},
    }
    reply = org.rest("POST", f"/v1/projects/{project}:copy", token=org.gateway.token, body=body)
    assert reply.status == 200, reply
    copied = reply.json()["project_hash"]

    assert member.get_project(copied).title == "Round 2"
    listed = org.projects.ListProjectDatasets(P.ListProjectDatasetsRequest(project_hash=copied), metadata=org.writer)
    assert [d.dataset_hash for d in listed.datasets] == [dataset]
    (sent,) = [e for e in org.sandbox.requests_log() if e["query_type"] == "projectcopy"][-1:]
    assert sent["resource_id"] == project and sent["outcome"] == "ok"


def test_dataset_and_ontology_grants_and_dataset_users(org: Org) -> None:
    email, member = org.new_member()
    group = org.groups.CreateGroup(G.CreateGroupRequest(name="Data"), metadata=org.admin)
    org.groups.AddGroupUsers(
        G.AddGroupUsersRequest(group_hash=group.group_hash, user_emails=[email]), metadata=org.admin
    )
    dataset = org.datasets.CreateDataset(D.CreateDatasetRequest(title="Granted"), metadata=org.writer).dataset_hash
    ontology = org.ontologies.CreateOntology(
        O.CreateOntologyRequest(title="Granted"), metadata=org.writer
    ).ontology_hash

    org.datasets.AddDatasetGroups(
        D.AddDatasetGroupsRequest(
            dataset_hash=dataset, group_hash_list=[group.group_hash], user_role=D.DATASET_USER_ROLE_USER
        ),
        metadata=org.admin,
    )
    org.ontologies.AddOntologyGroups(
        O.AddOntologyGroupsRequest(
            ontology_hash=ontology, group_hash_list=[group.group_hash], user_role=O.ONTOLOGY_USER_ROLE_ADMIN
        ),
        metadata=org.admin,
    )

    assert [d["dataset"].title for d in member.get_datasets()] == ["Granted"]
    assert member.get_ontology(ontology).title == "Granted"
    roles = org.datasets.ListDatasetGroups(D.ListDatasetGroupsRequest(dataset_hash=dataset), metadata=org.writer)
    assert [g.user_role for g in roles.groups] == [D.DATASET_USER_ROLE_USER]
    roles_o = org.ontologies.ListOntologyGroups(
        O.ListOntologyGroupsRequest(ontology_hash=ontology), metadata=org.writer
    )
    assert [g.user_role for g in roles_o.groups] == [O.ONTOLOGY_USER_ROLE_ADMIN]

    org.datasets.RemoveDatasetGroups(
        D.RemoveDatasetGroupsRequest(dataset_hash=dataset, group_hash_list=[group.group_hash]), metadata=org.admin
    )
    org.ontologies.RemoveOntologyGroups(
        O.RemoveOntologyGroupsRequest(ontology_hash=ontology, group_hash_list=[group.group_hash]), metadata=org.admin
    )
    assert member.get_datasets() == []

    added = org.datasets.AddDatasetUsers(
        D.AddDatasetUsersRequest(dataset_hash=dataset, user_emails=[email], user_role=D.DATASET_USER_ROLE_USER),
        metadata=org.admin,
    )
    assert [(u.user_email, u.user_role, u.dataset_hash) for u in added.users] == [
        (email, D.DATASET_USER_ROLE_USER, dataset)
    ]
    users = org.datasets.ListDatasetUsers(D.ListDatasetUsersRequest(dataset_hash=dataset), metadata=org.writer).users
    assert {(u.user_email, u.dataset_hash) for u in users} == {(org.email, dataset), (email, dataset)}
    org.datasets.RemoveDatasetUsers(
        D.RemoveDatasetUsersRequest(dataset_hash=dataset, user_emails=[email]), metadata=org.admin
    )
    assert member.get_datasets() == []


# ---- tags, integrations, metadata schemas ------------------------------------------------------------


def test_tags_are_made_attached_with_a_bodyless_put_and_filter_projects(org: Org) -> None:
    name = f"tag-{uuid.uuid4().hex[:8]}"
    made = org.rest("POST", "/v1/organisation/tags", token=org.gateway.token, body={"name": name})
    assert made.status == 200, made
    tag = made.json()["uuid"]
    project = org.new_project("Tagged")

    attached = org.rest("PUT", f"/v1/projects/{project}/tags/{tag}", token=org.gateway.token)
    assert attached.status == 200, attached

    assert org.rest("GET", f"/v1/projects/{project}/tags").json()["tags"] == [{"uuid": tag, "name": name}]
    tagged = org.projects.ListProjects(P.ListProjectsRequest(tags_anyof=[name]), metadata=org.writer)
    assert [p.project_hash for p in tagged.projects] == [project]
    org.projects.RemoveProjectTag(P.RemoveProjectTagRequest(project_hash=project, tag_uuid=tag), metadata=org.writer)
    assert (
        list(org.projects.ListProjectTags(P.ListProjectTagsRequest(project_hash=project), metadata=org.writer).tags)
        == []
    )
    org.organisation.DeleteOrganisationTag(G.DeleteOrganisationTagRequest(tag_uuid=tag), metadata=org.writer)
    names = [
        t.name for t in org.organisation.ListOrganisationTags(G.ListOrganisationTagsRequest(), metadata=org.writer).tags
    ]
    assert name not in names


def test_cloud_integrations_are_listed_by_both_calls(org: Org) -> None:
    title = f"bucket-{uuid.uuid4().hex[:8]}"
    status, made = org.sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": org.email, "title": title})
    assert status == 201, made

    found = org.organisation.ListCloudIntegrations(
        G.ListCloudIntegrationsRequest(filter_integration_titles=[title]), metadata=org.writer
    )
    legacy = org.organisation.ListCloudIntegrationsLegacy(G.ListCloudIntegrationsLegacyRequest(), metadata=org.writer)

    assert [(i.integration_uuid, i.title) for i in found.cloud_integrations] == [(made["integration_uuid"], title)]
    assert (made["integration_uuid"], title) in {(i.integration_uuid, i.title) for i in legacy.cloud_integrations}


def test_the_metadata_schema_is_saved_over_rest_and_read_over_grpc(org: Org) -> None:
    schema = {"camera": {"ty": "varchar", "max_length": 64}, "frame rate": {"ty": "number", "format": "F32"}}
    saved = org.rest("POST", "/v1/organisation/client-metadata-schema", token=org.gateway.token, body=schema)
    assert saved.status == 200, saved
    legacy = org.rest(
        "POST", "/v1/organisation/client-metadata-schema:legacy", token=org.gateway.token, body={"camera": "string"}
    )
    assert legacy.status == 200, legacy

    read = org.organisation.GetClientMetadataSchema(G.GetClientMetadataSchemaRequest(), metadata=org.writer)
    assert json.loads(json_format.MessageToJson(read.schema)) == schema
    old = org.organisation.GetClientMetadataSchemaLegacy(G.GetClientMetadataSchemaLegacyRequest(), metadata=org.writer)
    assert dict(old.schema.metadata_schema) == {"camera": "string"} and old.schema.organisation_id > 0
    bad = struct_pb2.Struct()
    bad.update({"$not a key": {"ty": "text"}})
    refused = org.kit.grpc_error(
        fails(
            lambda: org.organisation.SaveClientMetadataSchema(
                G.SaveClientMetadataSchemaRequest(schema=bad), metadata=org.writer
            )
        )
    )
    assert refused.code == "INVALID_ARGUMENT", refused
