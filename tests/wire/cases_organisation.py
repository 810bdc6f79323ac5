"""Wire-equality cases of organisation administration: members, tags, cloud integrations, the metadata schema,
groups and their grants, and the project and dataset administration calls (issue 14).

Calls that can only succeed once (adding a member, creating a tag of a given name, deleting something) are made
by both sides on the same resource: the SDK's request is recorded and then answered by a one-shot sandbox fault
(`answered_by_fault`), so that the state is still there for the gateway's identical request, which the sandbox
carries out for real.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from encord.metadata_schema import MetadataSchemaScalarType
from encord.orm.dataset import DatasetUserRole
from encord.orm.project import CopyDatasetAction, CopyDatasetOptions, CopyLabelsOptions, ProjectStatus
from encord.orm.project import ReviewApprovalState as Review
from encord.utilities.ontology_user import OntologyUserRole
from encord.utilities.project_user import ProjectUserRole
from encord_gateway._generated.encord.gateway.v1 import (
    common_pb2,
    datasets_pb2,
    ontologies_pb2,
    organisation_pb2,
    projects_pb2,
)
from google.protobuf import struct_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

# ---- helpers (setup only: nothing here is recorded) -------------------------------------------------


def control(sides: WireSides, method: str, path: str, body: Any) -> Any:
    """The sandbox's control API, reached behind the recorder."""
    request = urllib.request.Request(
        sides.recorder.forward_to + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def answered_by_fault(sides: WireSides, method: str, path: str, status: int = 204, body: Any = None) -> None:
    """The next `method /v2/public/<path>` request (the SDK's) is answered by the sandbox with `status` and `body`
    without being carried out."""
    fault: dict[str, Any] = {
        "match": {"api": "v2", "method": method, "path_prefix": f"/v2/public/{path}"},
        "times": 1,
        "status": status,
    }
    if body is not None:
        fault["body"] = json.dumps(body)
    control(sides, "POST", "/sandbox/v1/faults", fault)


def own_email(sides: WireSides) -> str:
    """The e-mail of the suite's user: the admin its organisation was made for."""
    return next(u.email for u in sides.sdk.list_organisation_users() if u.role_mnemonic_name == "ADMIN")


def new_member(sides: WireSides) -> str:
    email = f"{sides.unique('member')}@wire.test"
    sides.sdk.add_organisation_user(email, role_mnemonic_name="MEMBER", member_type="internal")
    return email


def with_group(sides: WireSides) -> Given:
    group = sides.sdk.create_group(sides.unique("group"), "wire group")
    return {"group": group, "hash": str(group.group_hash)}


def with_group_and_member(sides: WireSides) -> Given:
    return with_group(sides) | {"email": new_member(sides)}


def with_project(sides: WireSides) -> Given:
    return {"project": sides.sdk.get_project(sides.new_project(sides.unique("project")))}


def with_project_and_dataset(sides: WireSides) -> Given:
    dataset = sides.new_dataset(sides.unique("dataset"))
    return with_project(sides) | {"dataset": dataset}


def with_project_and_group(sides: WireSides) -> Given:
    return with_project(sides) | with_group(sides)


def with_dataset(sides: WireSides) -> Given:
    return {"dataset": sides.sdk.get_dataset(sides.new_dataset(sides.unique("dataset")), include_data_rows=False)}


def with_dataset_and_group(sides: WireSides) -> Given:
    return with_dataset(sides) | with_group(sides)


def with_ontology_and_group(sides: WireSides) -> Given:
    return {"ontology": sides.sdk.get_ontology(sides.new_ontology(sides.unique("ontology")))} | with_group(sides)


def with_tag(sides: WireSides) -> Given:
    tag = sides.sdk.create_organisation_tag(sides.unique("tag"))
    return {"tag": str(tag.uuid)}


def with_project_and_tag(sides: WireSides) -> Given:
    return with_project(sides) | with_tag(sides)


def with_integration(sides: WireSides) -> Given:
    title = sides.unique("bucket")
    made = control(sides, "POST", "/sandbox/v1/cloud-integrations", {"owner": own_email(sides), "title": title})
    return {"integration": made["integration_uuid"], "title": title}


def with_project_to_clone(sides: WireSides) -> Given:
    """A project with a dataset of two data units, to clone one of them."""
    given = with_project_with_dataset(sides)
    rows = control(
        sides,
        "POST",
        f"/sandbox/v1/datasets/{given['dataset']}/data-units",
        {"data_units": [{"title": "a.jpg"}, {"title": "b.jpg"}]},
    )["data_rows"]
    return given | {"data_hash": rows[0]["data_hash"]}


def adding_a_member(sides: WireSides) -> Given:
    email = f"{sides.unique('external')}@partner.test"
    answered_by_fault(sides, "POST", "organisation/users")
    return {"email": email}


def removing_a_member(sides: WireSides) -> Given:
    """A member whose e-mail needs percent-encoding in the path (`+` → %2B, `@` → %40)."""
    email = f"ann+{uuid.uuid4().hex[:8]}@wire.test"
    sides.sdk.add_organisation_user(email, role_mnemonic_name="MEMBER", member_type="internal")
    answered_by_fault(sides, "DELETE", f"organisation/users/{email}")
    return {"email": email}


def creating_a_tag(sides: WireSides) -> Given:
    name = sides.unique("tag")
    answered_by_fault(sides, "POST", "organisation/organisation-tags", 200, {"uuid": str(uuid.uuid4()), "name": name})
    return {"name": name}


def deleting_a_tag(sides: WireSides) -> Given:
    given = with_tag(sides)
    answered_by_fault(sides, "DELETE", f"organisation/organisation-tags/{given['tag']}")
    return given


def deleting_a_group(sides: WireSides) -> Given:
    given = with_group(sides)
    answered_by_fault(sides, "DELETE", f"organisation/groups/{given['hash']}")
    return given


def with_group_holding_a_member(sides: WireSides) -> Given:
    given = with_group_and_member(sides)
    given["group"].add_users([given["email"]])
    return given


def with_project_with_dataset(sides: WireSides) -> Given:
    given = with_project_and_dataset(sides)
    given["project"].add_datasets([given["dataset"]])
    return given


def with_project_with_user(sides: WireSides) -> Given:
    given = with_project(sides)
    given["project"].add_users(["cat@wire.test"], ProjectUserRole.REVIEWER)
    return given


def with_project_granted_to_a_group(sides: WireSides) -> Given:
    given = with_project_and_group(sides)
    given["project"].add_group(given["group"].group_hash, ProjectUserRole.REVIEWER)
    return given


def with_project_and_two_groups(sides: WireSides) -> Given:
    return with_project_and_group(sides) | {"other": sides.sdk.create_group(sides.unique("group"))}


def with_dataset_with_user(sides: WireSides) -> Given:
    given = with_dataset(sides)
    given["dataset"].add_users(["eve@wire.test"], DatasetUserRole.USER)
    return given


def with_dataset_granted_to_a_group(sides: WireSides) -> Given:
    given = with_dataset_and_group(sides)
    given["dataset"].add_group(given["group"].group_hash, DatasetUserRole.USER)
    return given


def with_ontology_granted_to_a_group(sides: WireSides) -> Given:
    given = with_ontology_and_group(sides)
    given["ontology"].add_group(given["group"].group_hash, OntologyUserRole.USER)
    return given


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def strings(values: list[str]) -> struct_pb2.ListValue:
    message = struct_pb2.ListValue()
    message.extend(values)
    return message


P, D, O, G = projects_pb2, datasets_pb2, ontologies_pb2, organisation_pb2  # noqa: E741 (O: ontologies)

# ---- the organisation -------------------------------------------------------------------------------

ORGANISATION_CASES = [
    WireCase(
        name="ListOrganisationUsers",
        rpc="OrganisationService.ListOrganisationUsers",
        proves=("U-17",),
        sdk=lambda sides, given: sides.sdk.list_organisation_users(),
        request=lambda given: G.ListOrganisationUsersRequest(),
    ),
    WireCase(
        name="AddOrganisationUser as an external member",
        rpc="OrganisationService.AddOrganisationUser",
        proves=("U-18",),
        setup=adding_a_member,
        sdk=lambda sides, given: sides.sdk.add_organisation_user(
            given["email"], role_mnemonic_name="TASKER", member_type="external"
        ),
        request=lambda given: G.AddOrganisationUserRequest(
            email=given["email"],
            role_mnemonic_name=G.ORGANISATION_ROLE_TASKER,
            member_type=G.ORGANISATION_MEMBER_TYPE_EXTERNAL,
        ),
    ),
    WireCase(
        # The e-mail travels percent-encoded in the path: `@` → %40, `+` → %2B.
        name="RemoveOrganisationUser with a percent-encoded e-mail",
        rpc="OrganisationService.RemoveOrganisationUser",
        proves=("U-19",),
        setup=removing_a_member,
        sdk=lambda sides, given: sides.sdk.remove_organisation_user(given["email"]),
        request=lambda given: G.RemoveOrganisationUserRequest(email=given["email"]),
    ),
    WireCase(
        name="ListOrganisationTags",
        rpc="OrganisationService.ListOrganisationTags",
        proves=("U-20",),
        setup=with_tag,
        sdk=lambda sides, given: sides.sdk.list_organisation_tags(),
        request=lambda given: G.ListOrganisationTagsRequest(),
    ),
    WireCase(
        name="CreateOrganisationTag with a description",
        rpc="OrganisationService.CreateOrganisationTag",
        proves=("U-21",),
        setup=creating_a_tag,
        sdk=lambda sides, given: sides.sdk.create_organisation_tag(given["name"], "street scenes"),
        request=lambda given: G.CreateOrganisationTagRequest(name=given["name"], description="street scenes"),
    ),
    WireCase(
        name="CreateOrganisationTag without a description",
        rpc="OrganisationService.CreateOrganisationTag",
        proves=("U-21",),
        setup=creating_a_tag,
        sdk=lambda sides, given: sides.sdk.create_organisation_tag(given["name"]),
        request=lambda given: G.CreateOrganisationTagRequest(name=given["name"]),
    ),
    WireCase(
        name="DeleteOrganisationTag",
        rpc="OrganisationService.DeleteOrganisationTag",
        proves=("U-22",),
        setup=deleting_a_tag,
        sdk=lambda sides, given: sides.sdk.delete_organisation_tag(tag_uuid=given["tag"]),
        request=lambda given: G.DeleteOrganisationTagRequest(tag_uuid=given["tag"]),
    ),
    WireCase(
        name="ListCloudIntegrations as get_cloud_integrations()",
        rpc="OrganisationService.ListCloudIntegrations",
        proves=("U-07",),
        setup=with_integration,
        sdk=lambda sides, given: sides.sdk.get_cloud_integrations(),
        request=lambda given: G.ListCloudIntegrationsRequest(),
    ),
    WireCase(
        name="ListCloudIntegrations by UUID and title, with organisation access",
        rpc="OrganisationService.ListCloudIntegrations",
        proves=("U-07",),
        setup=with_integration,
        sdk=lambda sides, given: sides.sdk.get_cloud_integrations(
            filter_integration_uuids=[given["integration"]],
            filter_integration_titles=[given["title"], "Straße 50% a&b"],
            include_org_access=True,
        ),
        request=lambda given: G.ListCloudIntegrationsRequest(
            filter_integration_uuids=[given["integration"]],
            filter_integration_titles=[given["title"], "Straße 50% a&b"],
            include_org_access=True,
        ),
    ),
    WireCase(
        name="ListCloudIntegrationsLegacy as the seed's cloudintegration GET",
        rpc="OrganisationService.ListCloudIntegrationsLegacy",
        proves=("U-07L",),
        setup=with_integration,
        sdk=lambda sides, given: legacy_v1_call(sides.sdk, "cloudintegration", "GET"),
        request=lambda given: G.ListCloudIntegrationsLegacyRequest(),
    ),
    WireCase(
        name="GetClientMetadataSchema as metadata_schema()",
        rpc="OrganisationService.GetClientMetadataSchema",
        proves=("E-09",),
        sdk=lambda sides, given: sides.sdk.metadata_schema(),
        request=lambda given: G.GetClientMetadataSchemaRequest(),
    ),
    WireCase(
        # The schema (read in setup) gains two keys and is saved whole; its keys are never camel-cased.
        name="SaveClientMetadataSchema as MetadataSchema.save()",
        rpc="OrganisationService.SaveClientMetadataSchema",
        proves=("E-09",),
        setup=lambda sides: {"schema": sides.sdk.metadata_schema()},
        sdk=lambda sides, given: (
            given["schema"].add_scalar("camera_model", data_type=MetadataSchemaScalarType.VARCHAR),
            given["schema"].add_enum("weather", values=["rainy", "sunny"]),
            given["schema"].save(),
        ),
        request=lambda given: G.SaveClientMetadataSchemaRequest(
            schema=struct(
                {
                    "camera_model": {"ty": "variant", "hint": "varchar"},
                    "weather": {"ty": "enum", "values": ["rainy", "sunny"]},
                }
            )
        ),
        free_form=True,
    ),
    WireCase(
        name="GetClientMetadataSchemaLegacy as get_client_metadata_schema()",
        rpc="OrganisationService.GetClientMetadataSchemaLegacy",
        proves=("E-09",),
        sdk=lambda sides, given: sides.sdk.get_client_metadata_schema(),
        request=lambda given: G.GetClientMetadataSchemaLegacyRequest(),
    ),
    WireCase(
        name="SaveClientMetadataSchemaLegacy as set_client_metadata_schema_from_dict()",
        rpc="OrganisationService.SaveClientMetadataSchemaLegacy",
        proves=("E-09",),
        sdk=lambda sides, given: sides.sdk.set_client_metadata_schema_from_dict(
            {"camera": "string", "speed": "number"}
        ),
        request=lambda given: G.SaveClientMetadataSchemaLegacyRequest(
            metadata_schema={"camera": "string", "speed": "number"}
        ),
    ),
]

# ---- groups -------------------------------------------------------------------------------------

GROUP_CASES = [
    WireCase(
        name="ListGroups",
        rpc="GroupService.ListGroups",
        proves=("U-09",),
        setup=with_group,
        sdk=lambda sides, given: list(sides.sdk.list_groups()),
        request=lambda given: G.ListGroupsRequest(),
    ),
    WireCase(
        name="CreateGroup with a description",
        rpc="GroupService.CreateGroup",
        proves=("U-10",),
        sdk=lambda sides, given: sides.sdk.create_group("Labellers — 東京", "the night shift"),
        request=lambda given: G.CreateGroupRequest(name="Labellers — 東京", description="the night shift"),
    ),
    WireCase(
        name="CreateGroup with the SDK's default description",
        rpc="GroupService.CreateGroup",
        proves=("U-10",),
        sdk=lambda sides, given: sides.sdk.create_group("Reviewers"),
        request=lambda given: G.CreateGroupRequest(name="Reviewers"),
    ),
    WireCase(
        name="GetGroup",
        rpc="GroupService.GetGroup",
        proves=("U-11",),
        setup=with_group,
        sdk=lambda sides, given: sides.sdk.get_group(given["hash"]),
        request=lambda given: G.GetGroupRequest(group_hash=given["hash"]),
    ),
    WireCase(
        name="DeleteGroup",
        rpc="GroupService.DeleteGroup",
        proves=("U-12",),
        setup=deleting_a_group,
        sdk=lambda sides, given: sides.sdk.delete_group(given["hash"]),
        request=lambda given: G.DeleteGroupRequest(group_hash=given["hash"]),
    ),
    WireCase(
        name="UpdateGroup's name only",
        rpc="GroupService.UpdateGroup",
        proves=("U-13",),
        setup=with_group,
        sdk=lambda sides, given: given["group"].update_group(name="Renamed"),
        request=lambda given: G.UpdateGroupRequest(group_hash=given["hash"], name="Renamed"),
    ),
    WireCase(
        name="UpdateGroup's name and description",
        rpc="GroupService.UpdateGroup",
        proves=("U-13",),
        setup=with_group,
        sdk=lambda sides, given: given["group"].update_group(name="Both", description=""),
        request=lambda given: G.UpdateGroupRequest(group_hash=given["hash"], name="Both", description=""),
    ),
    WireCase(
        name="ListGroupUsers",
        rpc="GroupService.ListGroupUsers",
        proves=("U-14",),
        setup=with_group,
        sdk=lambda sides, given: list(given["group"].list_users()),
        request=lambda given: G.ListGroupUsersRequest(group_hash=given["hash"]),
    ),
    WireCase(
        name="AddGroupUsers",
        rpc="GroupService.AddGroupUsers",
        proves=("U-15",),
        setup=with_group_and_member,
        sdk=lambda sides, given: given["group"].add_users([given["email"]]),
        request=lambda given: G.AddGroupUsersRequest(group_hash=given["hash"], user_emails=[given["email"]]),
    ),
    WireCase(
        name="RemoveGroupUsers",
        rpc="GroupService.RemoveGroupUsers",
        proves=("U-16",),
        setup=with_group_holding_a_member,
        sdk=lambda sides, given: given["group"].remove_users([given["email"], "never@wire.test"]),
        request=lambda given: G.RemoveGroupUsersRequest(
            group_hash=given["hash"], user_emails=[given["email"], "never@wire.test"]
        ),
    ),
]

# ---- projects -----------------------------------------------------------------------------------

PROJECT_CASES = [
    WireCase(
        name="RefetchProject as Project.refetch_data()",
        rpc="ProjectService.RefetchProject",
        proves=("P-02",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].refetch_data(),
        request=lambda given: P.RefetchProjectRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="ListProjectDatasets",
        rpc="ProjectService.ListProjectDatasets",
        proves=("P-04",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].list_datasets(),
        request=lambda given: P.ListProjectDatasetsRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="AddProjectDatasets as Project.add_datasets() (then the refetch)",
        rpc="ProjectService.AddProjectDatasets",
        proves=("P-05", "P-02"),
        setup=with_project_and_dataset,
        sdk=lambda sides, given: given["project"].add_datasets([given["dataset"]]),
        request=lambda given: P.AddProjectDatasetsRequest(
            project_hash=given["project"].project_hash, dataset_hashes=[given["dataset"]]
        ),
    ),
    WireCase(
        name="RemoveProjectDatasets as Project.remove_datasets() (then the refetch)",
        rpc="ProjectService.RemoveProjectDatasets",
        proves=("P-06", "P-02"),
        setup=with_project_with_dataset,
        sdk=lambda sides, given: given["project"].remove_datasets([given["dataset"]]),
        request=lambda given: P.RemoveProjectDatasetsRequest(
            project_hash=given["project"].project_hash, dataset_hashes=[given["dataset"]]
        ),
    ),
    WireCase(
        name="AddProjectUsers as annotators",
        rpc="ProjectService.AddProjectUsers",
        proves=("P-07",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].add_users(
            ["ann@wire.test", "bob@wire.test"], ProjectUserRole.ANNOTATOR
        ),
        request=lambda given: P.AddProjectUsersRequest(
            project_hash=given["project"].project_hash,
            user_emails=["ann@wire.test", "bob@wire.test"],
            user_role=common_pb2.PROJECT_USER_ROLE_ANNOTATOR,
        ),
    ),
    WireCase(
        name="ListProjectUsers",
        rpc="ProjectService.ListProjectUsers",
        proves=("P-08",),
        setup=with_project,
        sdk=lambda sides, given: list(given["project"].list_users()),
        request=lambda given: P.ListProjectUsersRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="RemoveProjectUsers",
        rpc="ProjectService.RemoveProjectUsers",
        proves=("P-09",),
        setup=with_project_with_user,
        sdk=lambda sides, given: given["project"].remove_users(["cat@wire.test"]),
        request=lambda given: P.RemoveProjectUsersRequest(
            project_hash=given["project"].project_hash, user_emails=["cat@wire.test"]
        ),
    ),
    WireCase(
        name="ListProjectGroups",
        rpc="ProjectService.ListProjectGroups",
        proves=("P-10",),
        setup=with_project_granted_to_a_group,
        sdk=lambda sides, given: list(given["project"].list_groups()),
        request=lambda given: P.ListProjectGroupsRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="AddProjectGroups as team managers",
        rpc="ProjectService.AddProjectGroups",
        proves=("P-10",),
        setup=with_project_and_group,
        sdk=lambda sides, given: given["project"].add_group(given["group"].group_hash, ProjectUserRole.TEAM_MANAGER),
        request=lambda given: P.AddProjectGroupsRequest(
            project_hash=given["project"].project_hash,
            group_hash_list=[given["hash"]],
            user_role=common_pb2.PROJECT_USER_ROLE_TEAM_MANAGER,
        ),
    ),
    WireCase(
        name="RemoveProjectGroups of two groups",
        rpc="ProjectService.RemoveProjectGroups",
        proves=("P-10",),
        setup=with_project_and_two_groups,
        sdk=lambda sides, given: given["project"].remove_group([given["group"].group_hash, given["other"].group_hash]),
        request=lambda given: P.RemoveProjectGroupsRequest(
            project_hash=given["project"].project_hash, group_hash_list=[given["hash"], str(given["other"].group_hash)]
        ),
    ),
    WireCase(
        name="CopyProject with the SDK's defaults",
        rpc="ProjectService.CopyProject",
        proves=("P-11",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].copy_project(),
        request=lambda given: P.CopyProjectRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="CopyProject attaching datasets, with collaborators and models, retitled",
        rpc="ProjectService.CopyProject",
        proves=("P-11",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].copy_project(
            copy_datasets=True, copy_collaborators=True, copy_models=True, new_title="Round 2", new_description="again"
        ),
        request=lambda given: P.CopyProjectRequest(
            project_hash=given["project"].project_hash,
            copy_project_options=[
                P.PROJECT_COPY_OPTION_DATASETS,
                P.PROJECT_COPY_OPTION_MODELS,
                P.PROJECT_COPY_OPTION_COLLABORATORS,
            ],
            project_copy_metadata=P.ProjectCopyMetadata(project_title="Round 2", project_description="again"),
        ),
    ),
    WireCase(
        name="CopyProject cloning one data unit, with labels in two review states",
        rpc="ProjectService.CopyProject",
        proves=("P-11",),
        setup=with_project_to_clone,
        sdk=lambda sides, given: given["project"].copy_project(
            copy_datasets=CopyDatasetOptions(
                action=CopyDatasetAction.CLONE,
                dataset_title="Clone",
                dataset_description="one unit",
                datasets_to_data_hashes_map={given["dataset"]: [given["data_hash"]]},
            ),
            copy_labels=CopyLabelsOptions(
                accepted_label_hashes=[], accepted_label_statuses=[Review.APPROVED, Review.PENDING]
            ),
        ),
        request=lambda given: P.CopyProjectRequest(
            project_hash=given["project"].project_hash,
            copy_project_options=[P.PROJECT_COPY_OPTION_LABELS],
            copy_labels_options=P.CopyLabelsOptions(
                datasets_to_data_hashes_map={given["dataset"]: strings([given["data_hash"]])},
                accepted_label_hashes=strings([]),
                accepted_label_statuses=strings(["APPROVED", "PENDING"]),
                create_new_dataset=True,
            ),
            project_copy_metadata=P.ProjectCopyMetadata(dataset_title="Clone", dataset_description="one unit"),
        ),
    ),
    WireCase(
        name="SetProjectStatus",
        rpc="ProjectService.SetProjectStatus",
        proves=("P-12",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].set_status(ProjectStatus.IN_REVIEW),
        request=lambda given: P.SetProjectStatusRequest(
            project_hash=given["project"].project_hash, status=common_pb2.PROJECT_STATUS_IN_REVIEW
        ),
    ),
    WireCase(
        name="ListProjectTags",
        rpc="ProjectService.ListProjectTags",
        proves=("E-01",),
        setup=with_project,
        sdk=lambda sides, given: given["project"].get_organisation_tags(use_cache=False),
        request=lambda given: P.ListProjectTagsRequest(project_hash=given["project"].project_hash),
    ),
    WireCase(
        name="AddProjectTag (a PUT without a body)",
        rpc="ProjectService.AddProjectTag",
        proves=("E-01",),
        setup=with_project_and_tag,
        sdk=lambda sides, given: given["project"].add_organisation_tag(tag_uuid=given["tag"]),
        request=lambda given: P.AddProjectTagRequest(project_hash=given["project"].project_hash, tag_uuid=given["tag"]),
    ),
    WireCase(
        name="RemoveProjectTag",
        rpc="ProjectService.RemoveProjectTag",
        proves=("E-01",),
        setup=with_project_and_tag,
        sdk=lambda sides, given: given["project"].remove_organisation_tag(tag_uuid=given["tag"]),
        request=lambda given: P.RemoveProjectTagRequest(
            project_hash=given["project"].project_hash, tag_uuid=given["tag"]
        ),
    ),
]

# ---- datasets and ontologies --------------------------------------------------------------------

DATASET_CASES = [
    WireCase(
        name="AddDatasetUsers as users",
        rpc="DatasetService.AddDatasetUsers",
        proves=("D-06",),
        setup=with_dataset,
        sdk=lambda sides, given: given["dataset"].add_users(["dan@wire.test"], DatasetUserRole.USER),
        request=lambda given: D.AddDatasetUsersRequest(
            dataset_hash=given["dataset"].dataset_hash,
            user_emails=["dan@wire.test"],
            user_role=D.DATASET_USER_ROLE_USER,
        ),
    ),
    WireCase(
        name="ListDatasetUsers",
        rpc="DatasetService.ListDatasetUsers",
        proves=("D-07",),
        setup=with_dataset,
        sdk=lambda sides, given: list(given["dataset"].list_users()),
        request=lambda given: D.ListDatasetUsersRequest(dataset_hash=given["dataset"].dataset_hash),
    ),
    WireCase(
        name="RemoveDatasetUsers",
        rpc="DatasetService.RemoveDatasetUsers",
        proves=("D-08",),
        setup=with_dataset_with_user,
        sdk=lambda sides, given: given["dataset"].remove_users(["eve@wire.test"]),
        request=lambda given: D.RemoveDatasetUsersRequest(
            dataset_hash=given["dataset"].dataset_hash, user_emails=["eve@wire.test"]
        ),
    ),
    WireCase(
        name="ListDatasetGroups",
        rpc="DatasetService.ListDatasetGroups",
        proves=("D-09",),
        setup=with_dataset_granted_to_a_group,
        sdk=lambda sides, given: list(given["dataset"].list_groups()),
        request=lambda given: D.ListDatasetGroupsRequest(dataset_hash=given["dataset"].dataset_hash),
    ),
    WireCase(
        name="AddDatasetGroups as admins",
        rpc="DatasetService.AddDatasetGroups",
        proves=("D-09",),
        setup=with_dataset_and_group,
        sdk=lambda sides, given: given["dataset"].add_group(given["group"].group_hash, DatasetUserRole.ADMIN),
        request=lambda given: D.AddDatasetGroupsRequest(
            dataset_hash=given["dataset"].dataset_hash,
            group_hash_list=[given["hash"]],
            user_role=D.DATASET_USER_ROLE_ADMIN,
        ),
    ),
    WireCase(
        name="RemoveDatasetGroups",
        rpc="DatasetService.RemoveDatasetGroups",
        proves=("D-09",),
        setup=with_dataset_and_group,
        sdk=lambda sides, given: given["dataset"].remove_group(given["group"].group_hash),
        request=lambda given: D.RemoveDatasetGroupsRequest(
            dataset_hash=given["dataset"].dataset_hash, group_hash_list=[given["hash"]]
        ),
    ),
]

ONTOLOGY_CASES = [
    WireCase(
        name="ListOntologyGroups",
        rpc="OntologyService.ListOntologyGroups",
        proves=("O-05",),
        setup=with_ontology_granted_to_a_group,
        sdk=lambda sides, given: list(given["ontology"].list_groups()),
        request=lambda given: O.ListOntologyGroupsRequest(ontology_hash=given["ontology"].ontology_hash),
    ),
    WireCase(
        name="AddOntologyGroups as users",
        rpc="OntologyService.AddOntologyGroups",
        proves=("O-05",),
        setup=with_ontology_and_group,
        sdk=lambda sides, given: given["ontology"].add_group(given["group"].group_hash, OntologyUserRole.USER),
        request=lambda given: O.AddOntologyGroupsRequest(
            ontology_hash=given["ontology"].ontology_hash,
            group_hash_list=[given["hash"]],
            user_role=O.ONTOLOGY_USER_ROLE_USER,
        ),
    ),
    WireCase(
        name="RemoveOntologyGroups",
        rpc="OntologyService.RemoveOntologyGroups",
        proves=("O-05",),
        setup=with_ontology_and_group,
        sdk=lambda sides, given: given["ontology"].remove_group(given["group"].group_hash),
        request=lambda given: O.RemoveOntologyGroupsRequest(
            ontology_hash=given["ontology"].ontology_hash, group_hash_list=[given["hash"]]
        ),
    ),
]

CASES = ORGANISATION_CASES + GROUP_CASES + PROJECT_CASES + DATASET_CASES + ONTOLOGY_CASES
