"""A group's access to storage folders (S-19) through a real gateway: a grant shows a folder to the group's members
(over gRPC and REST, the cached listing following it), bad input never reaches Encord, a missing folder is Encord's
refusal, and a caller administers only the folders and groups its policy names.

The session's gateway serves the module; its organisation's `read`+`write` caller lists, and a caller holding
`administer` too, added here, grants.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import pytest
from encord import EncordUserClient
from encord_gateway._generated.encord.gateway.v1 import (
    organisation_pb2,
    organisation_pb2_grpc,
    storage_pb2,
    storage_pb2_grpc,
)

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox

G, S = organisation_pb2, storage_pb2


@dataclass
class Kit:
    """The module's gateway and sandbox, its two callers' metadata, and the stubs they use."""

    gateway_kit: GatewayKit
    gateway: GatewayProcess
    sandbox: Sandbox
    storage: storage_pb2_grpc.StorageServiceStub
    groups: organisation_pb2_grpc.GroupServiceStub
    organisation: organisation_pb2_grpc.OrganisationServiceStub
    admin_token: str

    @property
    def writer(self) -> tuple[tuple[str, str], ...]:
        return self.gateway.auth_metadata

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.admin_token}"),)

    def upstream_calls(self) -> int:
        return len(self.sandbox.requests_log())

    def folder(self, name: str, parent: str = "") -> str:
        request = S.CreateStorageFolderRequest(name=name, parent=parent)
        return str(self.storage.CreateStorageFolder(request, metadata=self.writer).uuid)

    def member(self) -> tuple[str, EncordUserClient]:
        """A member added to the organisation through the gateway, who then signs up with a key of its own."""
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

    def group(self, name: str, *emails: str) -> str:
        group_hash = str(self.groups.CreateGroup(G.CreateGroupRequest(name=name), metadata=self.admin).group_hash)
        if emails:
            self.groups.AddGroupUsers(G.AddGroupUsersRequest(group_hash=group_hash, user_emails=emails), metadata=self.admin)  # fmt: skip
        return group_hash

    def caller(self, resources: list[str]) -> tuple[tuple[str, str], ...]:
        """A caller whose policy grants these resources only, with every right."""
        name = f"folder-admin-{uuid.uuid4().hex[:8]}"
        grant = {"organisation": self.gateway.organisation, "resources": resources, "rights": ["read", "write", "administer"]}  # fmt: skip
        self.gateway_kit.create_caller(self.gateway.data_dir, name, {"grants": [grant]})
        token, _ = self.gateway_kit.issue_token(self.gateway.data_dir, name)
        return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
def kit(gateway_kit: GatewayKit, gateway: GatewayProcess, sandbox: Sandbox) -> Iterator[Kit]:
    name = f"folder-groups-admin-{uuid.uuid4().hex[:8]}"
    policy = {"grants": [{"organisation": gateway.organisation, "resources": ["*"], "rights": ["read", "write", "administer"]}]}  # fmt: skip
    gateway_kit.create_caller(gateway.data_dir, name, policy)
    token, _ = gateway_kit.issue_token(gateway.data_dir, name)
    with gateway.channel() as channel:
        yield Kit(
            gateway_kit,
            gateway,
            sandbox,
            storage_pb2_grpc.StorageServiceStub(channel),
            organisation_pb2_grpc.GroupServiceStub(channel),
            organisation_pb2_grpc.OrganisationServiceStub(channel),
            token,
        )


def fails(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_a_group_granted_a_folder_shows_it_to_its_member_until_the_grant_is_revoked(
    kit: Kit, make_title: Callable[[str], str]
) -> None:
    email, member = kit.member()
    group = kit.group("Radiologists", email)
    name = make_title("scans")
    folder = kit.folder(name)
    kit.folder("2024", parent=folder)
    listing = S.ListStorageFolderGroupsRequest(folder_uuid=folder)
    assert list(kit.storage.ListStorageFolderGroups(listing, metadata=kit.writer).groups) == []  # now cached
    assert [f.name for f in member.list_storage_folders()] == []

    kit.storage.AddStorageFolderGroups(
        S.AddStorageFolderGroupsRequest(
            folder_uuid=folder, group_hash_list=[group], user_role=S.STORAGE_USER_ROLE_ADMIN
        ),
        metadata=kit.admin,
    )

    assert [f.name for f in member.list_storage_folders()] == [name]
    assert [f.name for f in member.get_storage_folder(folder).list_subfolders()] == ["2024"]
    listed = kit.storage.ListStorageFolderGroups(listing, metadata=kit.writer).groups
    assert [(g.group_hash, g.name, g.is_same_organisation, g.user_role) for g in listed] == [
        (group, "Radiologists", True, S.STORAGE_USER_ROLE_ADMIN)
    ]  # the grant dropped the cached listing
    rest = kit.gateway.rest("GET", f"/v1/storage/folders/{folder}/groups").json()
    assert [(g["group_hash"], g["user_role"]) for g in rest["groups"]] == [(group, "STORAGE_USER_ROLE_ADMIN")]

    reply = kit.gateway.rest("DELETE", f"/v1/storage/folders/{folder}/groups?group_hash_list={group}", token=kit.admin_token)  # fmt: skip
    assert reply.status == 200, reply

    assert [f.name for f in member.list_storage_folders()] == []
    assert list(kit.storage.ListStorageFolderGroups(listing, metadata=kit.writer).groups) == []


def test_the_sandbox_log_names_the_folder_each_group_call_was_about(kit: Kit, make_title: Callable[[str], str]) -> None:
    folder = kit.folder(make_title("logged"))
    group = kit.group("Logged")
    kit.sandbox.clear_requests_log()

    kit.storage.AddStorageFolderGroups(
        S.AddStorageFolderGroupsRequest(
            folder_uuid=folder, group_hash_list=[group], user_role=S.STORAGE_USER_ROLE_USER
        ),
        metadata=kit.admin,
    )
    kit.storage.RemoveStorageFolderGroups(
        S.RemoveStorageFolderGroupsRequest(folder_uuid=folder, group_hash_list=[group]), metadata=kit.admin
    )

    logged = [(e["method"], e["resource_type"], e["resource_id"], e["outcome"]) for e in kit.sandbox.requests_log()]
    assert logged == [("POST", "folder", folder, "ok"), ("DELETE", "folder", folder, "ok")]


def test_bad_input_never_reaches_encord_and_a_missing_folder_is_encords_refusal(kit: Kit) -> None:
    folder, group = str(uuid.uuid4()), str(uuid.uuid4())
    before = kit.upstream_calls()
    bad: list[tuple[Callable[[], object], str]] = [
        (lambda: kit.storage.AddStorageFolderGroups(S.AddStorageFolderGroupsRequest(folder_uuid=folder, group_hash_list=[group]), metadata=kit.admin), "user_role"),
        (lambda: kit.storage.AddStorageFolderGroups(S.AddStorageFolderGroupsRequest(folder_uuid=folder, user_role=S.STORAGE_USER_ROLE_USER), metadata=kit.admin), "group_hash_list"),
        (lambda: kit.storage.AddStorageFolderGroups(S.AddStorageFolderGroupsRequest(folder_uuid=folder, group_hash_list=["admins"], user_role=S.STORAGE_USER_ROLE_USER), metadata=kit.admin), "group_hash_list[0]"),
        (lambda: kit.storage.RemoveStorageFolderGroups(S.RemoveStorageFolderGroupsRequest(folder_uuid=folder), metadata=kit.admin), "group_hash_list"),
        (lambda: kit.storage.ListStorageFolderGroups(S.ListStorageFolderGroupsRequest(folder_uuid="scans"), metadata=kit.writer), "folder_uuid"),
    ]  # fmt: skip
    for call, field in bad:
        details = kit.gateway_kit.grpc_error(fails(call))
        assert (details.code, details.fields) == ("INVALID_ARGUMENT", (field,)), details
    reply = kit.gateway.rest("POST", f"/v1/storage/folders/{folder}/groups", token=kit.admin_token, body={"group_hash_list": [group], "user_role": "STORAGE_USER_ROLE_OWNER"})  # fmt: skip
    assert reply.status == 400, reply
    assert kit.upstream_calls() == before

    listing = S.ListStorageFolderGroupsRequest(folder_uuid=folder)
    missing = kit.gateway_kit.grpc_error(
        fails(lambda: kit.storage.ListStorageFolderGroups(listing, metadata=kit.writer))
    )
    assert missing.code == "PERMISSION_DENIED" and missing.reason != "POLICY_DENIED", missing  # Encord's answer
    assert kit.upstream_calls() == before + 1


def test_a_caller_grants_only_the_folders_and_groups_its_policy_names(
    kit: Kit, make_title: Callable[[str], str]
) -> None:
    mine, other = kit.folder(make_title("mine")), kit.folder(make_title("other"))
    named, unnamed = kit.group("Named"), kit.group("Unnamed")
    md = kit.caller([f"storage_folder:{mine}", f"group:{named}"])

    def grant(folder: str, group: str) -> object:
        request = S.AddStorageFolderGroupsRequest(folder_uuid=folder, group_hash_list=[group], user_role=S.STORAGE_USER_ROLE_USER)  # fmt: skip
        return kit.storage.AddStorageFolderGroups(request, metadata=md)

    grant(mine, named)
    before = kit.upstream_calls()
    wrong_folder = kit.gateway_kit.grpc_error(fails(lambda: grant(other, named)))
    wrong_group = kit.gateway_kit.grpc_error(fails(lambda: grant(mine, unnamed)))

    assert (wrong_folder.code, wrong_folder.reason, wrong_folder.metadata.get("right")) == ("PERMISSION_DENIED", "POLICY_DENIED", "administer")  # fmt: skip
    assert (wrong_group.code, wrong_group.reason, wrong_group.metadata.get("field")) == ("PERMISSION_DENIED", "POLICY_DENIED", "group_hash_list")  # fmt: skip
    assert kit.upstream_calls() == before
    listed = kit.storage.ListStorageFolderGroups(S.ListStorageFolderGroupsRequest(folder_uuid=mine), metadata=md)
    assert [g.group_hash for g in listed.groups] == [named]
