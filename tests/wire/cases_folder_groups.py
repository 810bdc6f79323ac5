"""Wire-equality cases of a group's access to storage folders (S-19): list, grant and revoke.

Granting a group the role it already has and revoking a grant that is gone both succeed unchanged on Encord, so
the SDK's call and the gateway's identical one are both carried out for real.
"""

from __future__ import annotations

from encord.orm.storage import StorageUserRole
from encord_gateway._generated.encord.gateway.v1 import storage_pb2
from wire_harness import Given, WireCase, WireSides

S = storage_pb2


def with_folder_and_group(sides: WireSides) -> Given:
    folder = sides.sdk.create_storage_folder(sides.unique("folder"))
    group = sides.sdk.create_group(sides.unique("group"), "wire group")
    return {"folder": folder, "uuid": str(folder.uuid), "group": group, "hash": str(group.group_hash)}


def with_folder_granted_to_a_group(sides: WireSides) -> Given:
    given = with_folder_and_group(sides)
    given["folder"].add_group(given["group"].group_hash, StorageUserRole.USER)
    return given


def with_folder_granted_to_two_groups(sides: WireSides) -> Given:
    given = with_folder_granted_to_a_group(sides)
    other = sides.sdk.create_group(sides.unique("group"))
    given["folder"].add_group(other.group_hash, StorageUserRole.ADMIN)
    return given | {"other": str(other.group_hash)}


CASES = [
    WireCase(
        name="ListStorageFolderGroups",
        rpc="StorageService.ListStorageFolderGroups",
        proves=("S-19",),
        setup=with_folder_granted_to_a_group,
        sdk=lambda sides, given: list(given["folder"].list_groups()),
        request=lambda given: S.ListStorageFolderGroupsRequest(folder_uuid=given["uuid"]),
    ),
    WireCase(
        name="AddStorageFolderGroups as admins",
        rpc="StorageService.AddStorageFolderGroups",
        proves=("S-19",),
        setup=with_folder_and_group,
        sdk=lambda sides, given: given["folder"].add_group(given["group"].group_hash, StorageUserRole.ADMIN),
        request=lambda given: S.AddStorageFolderGroupsRequest(
            folder_uuid=given["uuid"], group_hash_list=[given["hash"]], user_role=S.STORAGE_USER_ROLE_ADMIN
        ),
    ),
    WireCase(
        name="AddStorageFolderGroups as users",
        rpc="StorageService.AddStorageFolderGroups",
        proves=("S-19",),
        setup=with_folder_and_group,
        sdk=lambda sides, given: given["folder"].add_group([given["group"].group_hash], StorageUserRole.USER),
        request=lambda given: S.AddStorageFolderGroupsRequest(
            folder_uuid=given["uuid"], group_hash_list=[given["hash"]], user_role=S.STORAGE_USER_ROLE_USER
        ),
    ),
    WireCase(
        name="RemoveStorageFolderGroups of two groups",
        rpc="StorageService.RemoveStorageFolderGroups",
        proves=("S-19",),
        setup=with_folder_granted_to_two_groups,
        sdk=lambda sides, given: given["folder"].remove_group([given["group"].group_hash, given["other"]]),
        request=lambda given: S.RemoveStorageFolderGroupsRequest(
            folder_uuid=given["uuid"], group_hash_list=[given["hash"], given["other"]]
        ),
    ),
]
