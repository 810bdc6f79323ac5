"""The official Encord SDK (0.1.211) granting storage folders to groups (S-19): every member of a granted group sees
the folder and everything below it, with the group's role, until the grant, the membership or the group goes."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from encord import EncordUserClient
from encord.exceptions import AuthorisationError, ResourceNotFoundError
from encord.orm.storage import StorageUserRole

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


def sdk(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def admin(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    """A user who signed up, and so administers an organisation of its own (and owns the folders below)."""
    return sdk(sandbox, user)


@pytest.fixture
def member_email(admin: EncordUserClient) -> str:
    email = f"member-{uuid.uuid4().hex[:10]}@sandbox.test"
    admin.add_organisation_user(email, role_mnemonic_name="MEMBER", member_type="internal")
    return email


@pytest.fixture
def member(sandbox: Sandbox, member_email: str) -> EncordUserClient:
    """A member of the admin's organisation with a key of its own; it owns no folder."""
    return sdk(sandbox, sandbox.new_user(member_email))


def folder_names(client: EncordUserClient) -> list[str]:
    return [f.name for f in client.list_storage_folders()]


def test_a_folder_granted_to_a_group_is_listed_and_read_by_its_member_until_the_grant_is_revoked(
    admin: EncordUserClient, member: EncordUserClient, member_email: str, sandbox: Sandbox
) -> None:
    group = admin.create_group("Radiologists")
    group.add_users([member_email])
    scans = admin.create_storage_folder("Scans", "hospital scans")
    year = scans.create_subfolder("2024")
    (chest,) = sandbox.seed_storage_items(str(year.uuid), [{"name": "chest.jpg", "item_type": "image"}])
    assert folder_names(member) == []
    with pytest.raises(AuthorisationError):
        member.get_storage_folder(scans.uuid)

    scans.add_group(group.group_hash, StorageUserRole.USER)

    assert [(g.group_hash, g.name, g.is_same_organisation, g.user_role) for g in scans.list_groups()] == [
        (group.group_hash, "Radiologists", True, StorageUserRole.USER)
    ]
    assert folder_names(member) == ["Scans"]
    seen = member.get_storage_folder(scans.uuid)
    assert seen._orm_folder.user_role == StorageUserRole.USER
    assert [f.name for f in seen.list_subfolders()] == ["2024"]
    assert [i.name for i in member.get_storage_folder(year.uuid).list_items()] == ["chest.jpg"]
    assert member.get_storage_item(chest["uuid"]).name == "chest.jpg"
    with pytest.raises(AuthorisationError):  # a user reads; only admins change a folder
        seen.create_subfolder("mine")

    scans.remove_group(group.group_hash)

    assert list(scans.list_groups()) == []
    assert folder_names(member) == []
    with pytest.raises(AuthorisationError):
        member.get_storage_folder(year.uuid)
    with pytest.raises(AuthorisationError):
        member.get_storage_item(chest["uuid"])


def test_an_admin_grant_on_a_subfolder_makes_it_the_members_own_top_level_folder_to_change(
    admin: EncordUserClient, member: EncordUserClient, member_email: str
) -> None:
    group = admin.create_group("Curators")
    group.add_users([member_email])
    scans = admin.create_storage_folder("Scans")
    year = scans.create_subfolder("2024")
    scans.create_subfolder("2023")

    year.add_group([group.group_hash], StorageUserRole.ADMIN)

    assert folder_names(member) == ["2024"]  # its parent stays out of the member's sight
    with pytest.raises(AuthorisationError):
        member.get_storage_folder(scans.uuid)
    mine = member.get_storage_folder(year.uuid)
    assert mine._orm_folder.user_role == StorageUserRole.ADMIN
    mine.create_subfolder("March")
    assert [f.name for f in year.list_subfolders()] == ["March"]  # the owner sees what the member made
    assert {f.name for f in member.find_storage_folders()} == {"2024", "March"}


def test_leaving_the_group_or_deleting_it_takes_the_folder_away(
    admin: EncordUserClient, member: EncordUserClient, member_email: str
) -> None:
    group = admin.create_group("Night shift")
    group.add_users([member_email])
    folder = admin.create_storage_folder("Shared")
    folder.add_group(group.group_hash, StorageUserRole.USER)
    assert folder_names(member) == ["Shared"]

    group.remove_users([member_email])
    assert folder_names(member) == []

    group.add_users([member_email])
    assert folder_names(member) == ["Shared"]
    admin.delete_group(group.group_hash)
    assert folder_names(member) == []
    assert list(folder.list_groups()) == []


def test_only_an_admin_of_the_folder_grants_it_and_only_to_groups_of_its_organisation(
    admin: EncordUserClient, member: EncordUserClient, member_email: str, sandbox: Sandbox
) -> None:
    group = admin.create_group("Readers")
    group.add_users([member_email])
    folder = admin.create_storage_folder("Read only")
    folder.add_group(group.group_hash, StorageUserRole.USER)
    as_member = member.get_storage_folder(folder.uuid)

    with pytest.raises(AuthorisationError):
        as_member.add_group(group.group_hash, StorageUserRole.ADMIN)
    with pytest.raises(AuthorisationError):
        as_member.remove_group(group.group_hash)
    assert [g.user_role for g in folder.list_groups()] == [StorageUserRole.USER]

    stranger = sdk(sandbox, sandbox.new_user())  # signs up: an organisation of its own
    foreign = stranger.create_group("Elsewhere")
    with pytest.raises(ResourceNotFoundError):
        folder.add_group(foreign.group_hash, StorageUserRole.USER)
    assert [g.name for g in folder.list_groups()] == ["Readers"]
