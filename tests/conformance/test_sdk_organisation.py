"""The official Encord SDK (0.1.211) administering an organisation in the sandbox: members, groups and their grants,
project and dataset users, tags, copies, status, cloud integrations and metadata schemas (issue 14)."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import AuthorisationError, InvalidArgumentsError, ResourceExistsError, ResourceNotFoundError
from encord.metadata_schema import MetadataSchemaScalarType
from encord.orm.dataset import DatasetUserRole, StorageLocation
from encord.orm.project import CopyDatasetAction, CopyDatasetOptions, CopyLabelsOptions, ProjectStatus
from encord.utilities.ontology_user import OntologyUserRole
from encord.utilities.project_user import ProjectUserRole

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


def _legacy_v1_call() -> Callable[..., Any]:
    """tests/wire/wire_legacy.py's `legacy_v1_call`: the SDK's own v1 transport for rows it no longer offers."""
    path = Path(__file__).resolve().parent.parent / "wire" / "wire_legacy.py"
    spec = importlib.util.spec_from_file_location("wire_legacy_for_conformance", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    call: Callable[..., Any] = module.legacy_v1_call
    return call


legacy_v1_call = _legacy_v1_call()


def sdk(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def admin(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    """A user who signed up, and so administers an organisation of its own."""
    return sdk(sandbox, user)


@pytest.fixture
def admin_email(user: SandboxUser) -> str:
    return user.email


@pytest.fixture
def member_email(admin: EncordUserClient) -> str:
    email = f"member-{uuid.uuid4().hex[:10]}@sandbox.test"
    admin.add_organisation_user(email, role_mnemonic_name="MEMBER", member_type="internal")
    return email


@pytest.fixture
def member(sandbox: Sandbox, member_email: str) -> EncordUserClient:
    """The member signs up after the admin added it: it belongs to the admin's organisation."""
    return sdk(sandbox, sandbox.new_user(member_email))


def titles(client: EncordUserClient) -> list[str]:
    return [p.title for p in client.list_projects()]


def emails_of(users: Any) -> set[str]:
    return {u.user_email for u in users}


# ---- the organisation, end to end --------------------------------------------------------------


def test_an_organisation_is_administered_end_to_end(
    admin: EncordUserClient, admin_email: str, member: EncordUserClient, member_email: str
) -> None:
    # Members.
    users = {u.email: (u.role_mnemonic_name, u.member_type) for u in admin.list_organisation_users()}
    assert users == {admin_email: ("ADMIN", "internal"), member_email: ("MEMBER", "internal")}
    with pytest.raises(ResourceExistsError):
        admin.add_organisation_user(member_email, role_mnemonic_name="TASKER", member_type="internal")

    # A group holding the member is granted a project: the member sees it, with the group's role.
    group = admin.create_group("Labellers", "the labelling team")
    assert emails_of(group.add_users([member_email])) == {admin_email, member_email}
    project = admin.get_project(admin.create_project("Secret street scenes", []))
    assert titles(member) == []
    project.add_group(group.group_hash, ProjectUserRole.ANNOTATOR)

    assert titles(member) == ["Secret street scenes"]
    assert member.get_project(project.project_hash).user_role == ProjectUserRole.ANNOTATOR
    assert [(g.group_hash, g.name, g.is_same_organisation, g.user_role) for g in project.list_groups()] == [
        (group.group_hash, "Labellers", True, ProjectUserRole.ANNOTATOR)
    ]

    # Revoked, the project is gone from the member's view.
    project.remove_group(group.group_hash)
    assert titles(member) == []
    with pytest.raises(ResourceNotFoundError):
        member.get_project(project.project_hash)

    # Removed from the organisation, the member leaves its groups too.
    admin.remove_organisation_user(member_email)
    assert [u.email for u in admin.list_organisation_users()] == [admin_email]
    assert emails_of(group.list_users()) == {admin_email}
    with pytest.raises(ResourceNotFoundError):
        admin.remove_organisation_user(member_email)


def test_only_internal_members_may_be_admins_and_only_admins_add_members(
    admin: EncordUserClient, member: EncordUserClient
) -> None:
    with pytest.raises(InvalidArgumentsError):
        admin.add_organisation_user("partner@elsewhere.test", role_mnemonic_name="ADMIN", member_type="external")
    with pytest.raises(AuthorisationError):
        member.add_organisation_user("friend@sandbox.test", role_mnemonic_name="MEMBER", member_type="internal")

    admin.add_organisation_user("partner@elsewhere.test", role_mnemonic_name="TASKER", member_type="external")

    added = next(u for u in member.list_organisation_users() if u.email == "partner@elsewhere.test")
    assert (added.role_mnemonic_name, added.member_type) == ("TASKER", "external")


# ---- groups ------------------------------------------------------------------------------------


def test_groups_are_created_renamed_listed_and_deleted(
    admin: EncordUserClient, admin_email: str, member_email: str
) -> None:
    group = admin.create_group("Reviewers")
    assert (group.name, group.description) == ("Reviewers", "")

    group.update_group(description="second pass")
    group.update_group(name="QA")
    fetched = admin.get_group(group.group_hash)
    assert (fetched.name, fetched.description, fetched.created_at) == ("QA", "second pass", group.created_at)
    assert [g.group_hash for g in admin.list_groups()] == [group.group_hash]

    assert emails_of(group.add_users([member_email])) == {admin_email, member_email}
    group.remove_users([member_email, "never-added@sandbox.test"])
    assert emails_of(group.list_users()) == {admin_email}
    with pytest.raises(AuthorisationError):
        group.add_users(["outsider@elsewhere.test"])

    admin.delete_group(group.group_hash)
    assert list(admin.list_groups()) == []
    with pytest.raises(ResourceNotFoundError):
        admin.get_group(group.group_hash)


def test_dataset_and_ontology_grants_and_dataset_users(
    admin: EncordUserClient, member: EncordUserClient, member_email: str
) -> None:
    group = admin.create_group("Data team")
    group.add_users([member_email])
    dataset = admin.get_dataset(admin.create_dataset("Frames", StorageLocation.CORD_STORAGE).dataset_hash)
    ontology = admin.create_ontology("Shapes")

    dataset.add_group(group.group_hash, DatasetUserRole.USER)
    ontology.add_group(group.group_hash, OntologyUserRole.USER)

    assert [(d["dataset"].title, d["user_role"]) for d in member.get_datasets()] == [("Frames", DatasetUserRole.USER)]
    assert member.get_ontology(ontology.ontology_hash).title == "Shapes"
    assert [(g.name, g.user_role) for g in dataset.list_groups()] == [("Data team", DatasetUserRole.USER)]
    assert [(g.name, g.user_role) for g in ontology.list_groups()] == [("Data team", OntologyUserRole.USER)]

    dataset.remove_group(group.group_hash)
    ontology.remove_group(group.group_hash)
    assert member.get_datasets() == []
    with pytest.raises(ResourceNotFoundError):
        member.get_ontology(ontology.ontology_hash)
    assert list(dataset.list_groups()) == [] and list(ontology.list_groups()) == []

    # The dataset's own users.
    added = dataset.add_users([member_email], DatasetUserRole.USER)
    assert [(u.user_email, u.user_role, u.dataset_hash) for u in added] == [
        (member_email, DatasetUserRole.USER, dataset.dataset_hash)
    ]
    assert {(u.user_email, u.user_role) for u in dataset.list_users()} >= {(member_email, DatasetUserRole.USER)}
    dataset.remove_users([member_email])
    assert member_email not in emails_of(dataset.list_users())
    assert member.get_datasets() == []


# ---- projects: users, datasets, status, copies, tags ---------------------------------------------


def test_project_users_are_added_listed_and_removed(admin: EncordUserClient, admin_email: str) -> None:
    project = admin.get_project(admin.create_project("Team", []))

    added = project.add_users(["ann@sandbox.test", "bob@sandbox.test"], ProjectUserRole.REVIEWER)
    again = project.add_users(["ann@sandbox.test"], ProjectUserRole.ANNOTATOR)  # existing users keep their role

    assert [(u.user_email, u.user_role) for u in added + again] == [
        ("ann@sandbox.test", ProjectUserRole.REVIEWER),
        ("bob@sandbox.test", ProjectUserRole.REVIEWER),
        ("ann@sandbox.test", ProjectUserRole.REVIEWER),
    ]
    assert {(u.user_email, u.user_role) for u in project.list_users()} == {
        (admin_email, ProjectUserRole.ADMIN),
        ("ann@sandbox.test", ProjectUserRole.REVIEWER),
        ("bob@sandbox.test", ProjectUserRole.REVIEWER),
    }
    project.remove_users(["bob@sandbox.test", "nobody@sandbox.test"])
    assert emails_of(project.list_users()) == {admin_email, "ann@sandbox.test"}


def test_project_datasets_status_and_refetch(admin: EncordUserClient) -> None:
    project = admin.get_project(admin.create_project("Status", []))
    first = admin.create_dataset("First", StorageLocation.CORD_STORAGE).dataset_hash
    second = admin.create_dataset("Second", StorageLocation.CORD_STORAGE).dataset_hash

    assert project.add_datasets([first, second]) is True
    assert [d.title for d in project.list_datasets()] == ["First", "Second"]
    assert project.remove_datasets([first]) is True
    assert [str(d.dataset_hash) for d in project.list_datasets()] == [second]

    assert project.status == ProjectStatus.NOT_STARTED
    project.set_status(ProjectStatus.COMPLETED)
    project.refetch_data()
    assert project.status == ProjectStatus.COMPLETED


def test_project_copies_carry_what_was_asked_for(
    admin: EncordUserClient, member: EncordUserClient, member_email: str, sandbox: Sandbox
) -> None:
    dataset = admin.create_dataset("Source", StorageLocation.CORD_STORAGE).dataset_hash
    units = sandbox.seed_data_units(dataset, [{"title": "a.jpg"}, {"title": "b.jpg"}])
    ontology = admin.create_ontology("Vehicles")
    project = admin.get_project(admin.create_project("Original", [dataset], ontology_hash=ontology.ontology_hash))
    project.add_users([member_email], ProjectUserRole.REVIEWER)

    attached = admin.get_project(
        project.copy_project(copy_datasets=True, copy_collaborators=True, new_title="Attached", new_description="d")
    )
    cloned = admin.get_project(
        project.copy_project(
            copy_datasets=CopyDatasetOptions(
                action=CopyDatasetAction.CLONE,
                dataset_title="Clone",
                datasets_to_data_hashes_map={dataset: [units[1]["data_hash"]]},
            ),
            copy_labels=CopyLabelsOptions(),
        )
    )

    assert (attached.title, attached.description, attached.ontology_hash) == ("Attached", "d", ontology.ontology_hash)
    assert [str(d.dataset_hash) for d in attached.list_datasets()] == [dataset]
    assert member.get_project(attached.project_hash).user_role == ProjectUserRole.REVIEWER
    assert cloned.title == "Original (copy)"
    (clone,) = cloned.list_datasets()
    assert clone.title == "Clone" and str(clone.dataset_hash) != dataset
    assert [r.title for r in admin.get_dataset(str(clone.dataset_hash)).data_rows] == ["b.jpg"]
    with pytest.raises(ResourceNotFoundError):
        member.get_project(cloned.project_hash)


def test_organisation_tags_attach_to_projects(admin: EncordUserClient, member: EncordUserClient) -> None:
    tag = admin.create_organisation_tag("street scenes", "cars and people")
    other = admin.create_organisation_tag("night")
    with pytest.raises(ResourceExistsError):
        admin.create_organisation_tag("night")
    with pytest.raises(AuthorisationError):
        member.create_organisation_tag("mine")
    project = admin.get_project(admin.create_project("Tagged", []))
    admin.create_project("Untagged", [])

    project.add_organisation_tag(tag)
    project.add_organisation_tag(tag_name="night")

    assert {t.name for t in project.get_organisation_tags()} == {"street scenes", "night"}
    assert [p.title for p in admin.list_projects(tags_anyof=["street scenes"])] == ["Tagged"]
    assert [t.name for t in member.list_organisation_tags()] == ["street scenes", "night"]
    with pytest.warns(DeprecationWarning):
        assert [t.uuid for t in admin.list_project_tags()] == [tag.uuid, other.uuid]

    project.remove_organisation_tag(tag_uuid=other.uuid)
    admin.delete_organisation_tag(tag_name="street scenes")
    assert project.get_organisation_tags(use_cache=False) == []
    assert [t.name for t in admin.list_organisation_tags()] == ["night"]
    assert list(admin.list_projects(tags_anyof=["street scenes", "night"])) == []
    with pytest.raises(ResourceNotFoundError):
        admin.delete_organisation_tag(tag_name="street scenes")


# ---- cloud integrations and metadata schemas ---------------------------------------------------


def test_cloud_integrations_seeded_in_the_web_app_are_listed(
    admin: EncordUserClient, admin_email: str, member: EncordUserClient, member_email: str, sandbox: Sandbox
) -> None:
    def seed(owner: str, title: str) -> str:
        status, made = sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": owner, "title": title})
        assert status == 201, made
        return str(made["integration_uuid"])

    archive = seed(admin_email, "Archive bucket")
    seed(admin_email, "Scratch bucket")
    theirs = seed(member_email, "Member bucket")

    assert [(i.id, i.title) for i in admin.get_cloud_integrations(filter_integration_titles=["Archive bucket"])] == [
        (archive, "Archive bucket")
    ]
    assert {i.title for i in admin.get_cloud_integrations()} == {"Archive bucket", "Scratch bucket"}
    everything = admin.get_cloud_integrations(include_org_access=True, filter_integration_uuids=[archive, theirs])
    assert [i.id for i in everything] == [archive, theirs]
    assert [i.title for i in member.get_cloud_integrations(include_org_access=True)] == ["Member bucket"]
    project = admin.get_project(admin.create_project("With integrations", []))
    with pytest.warns(DeprecationWarning):
        assert {i.title for i in project.get_cloud_integrations()} == {"Archive bucket", "Scratch bucket"}
    # The seed's legacy call (U-07L), through the SDK's own v1 transport.
    assert legacy_v1_call(member, "cloudintegration", "GET") == [{"id": theirs, "title": "Member bucket"}]


def test_the_metadata_schema_is_saved_for_the_organisation(admin: EncordUserClient, member: EncordUserClient) -> None:
    schema = admin.metadata_schema()
    assert schema.keys() == []
    schema.add_scalar("camera", data_type=MetadataSchemaScalarType.VARCHAR)
    schema.add_enum("weather", values=["sunny", "rainy"])
    schema.add_embedding("clip", size=512)
    schema.save()

    seen = member.metadata_schema()
    assert sorted(seen.keys()) == ["camera", "clip", "weather"]
    assert seen.get_key_type("camera") == "varchar"
    assert sorted(seen.get_enum_options("weather")) == ["rainy", "sunny"]
    assert seen.get_embedding_size("clip") == 512

    # The deprecated simple schema is a document of its own.
    with pytest.warns(DeprecationWarning):
        assert admin.get_client_metadata_schema() is None
    with pytest.warns(DeprecationWarning):
        admin.set_client_metadata_schema_from_dict({"camera": "string", "speed": "number"})
    with pytest.warns(DeprecationWarning):
        assert {k: v.value for k, v in (member.get_client_metadata_schema() or {}).items()} == {
            "camera": "string",
            "speed": "number",
        }
