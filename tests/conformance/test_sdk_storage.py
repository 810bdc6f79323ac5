"""The official Encord SDK (0.1.211) driving the sandbox's storage and data units as a user would drive Encord:
folder trees, items of every type, signed URLs that download, datasets that link items, mirror datasets, projects
reading their data units, moves and deletions."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
import requests
from encord import EncordUserClient
from encord.constants.enums import DataType
from encord.exceptions import AuthorisationError, InvalidArgumentsError, ResourceExistsError
from encord.http.bundle import Bundle
from encord.orm.dataset import DataLinkDuplicatesBehavior, ImagesDataFetchOptions, StorageLocation
from encord.orm.project import OrganisationTag
from encord.orm.storage import (
    DataGroupCustom,
    DataGroupGrid,
    FoldersSortBy,
    SidecarMatcherSuffix,
    StorageFolderConfig,
    StorageItemType,
    StorageUserRole,
)
from encord.storage import StorageFolder, StorageItem
from encord.utilities.storage.cloud_data_migration import update_storage_item_cloud_info

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

EVERY_TYPE = [
    {"name": "clip.mp4", "item_type": "video", "frames": 50, "client_metadata": {"camera": "front"}},
    {"name": "photo.jpg", "item_type": "image", "width": 800, "height": 600},
    {"name": "street", "item_type": "imageGroup", "children": ["s0.jpg", "s1.jpg", "s2.jpg"]},
    {"name": "drive", "item_type": "imageSequence", "children": ["d0.jpg", "d1.jpg"]},
    {"name": "chest", "item_type": "dicomSeries", "children": ["c0.dcm", "c1.dcm"]},
    {"name": "single.dcm", "item_type": "dicomFile"},
    {"name": "notes.txt", "item_type": "plainText", "content_base64": base64.b64encode(b"hello storage").decode()},
    {"name": "talk.mp3", "item_type": "audio"},
    {"name": "report.pdf", "item_type": "pdf"},
    {"name": "lidar", "item_type": "scene"},
]


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def seed(
    sandbox: Sandbox, client: EncordUserClient
) -> Callable[[StorageFolder, list[dict[str, Any]]], list[StorageItem]]:
    """Items added to a folder as the web app's upload would (control API), read back through the SDK."""

    def seed_items(folder: StorageFolder, specs: list[dict[str, Any]]) -> list[StorageItem]:
        seeded = sandbox.seed_storage_items(str(folder.uuid), specs)
        return client.get_storage_items([item["uuid"] for item in seeded])

    return seed_items


def by_name(items: Any) -> dict[str, StorageItem]:
    return {item.name: item for item in items}


# ---- folders ----------------------------------------------------------------------------------


def test_a_folder_tree_reads_back_with_its_paths_and_metadata(client: EncordUserClient) -> None:
    top = client.create_storage_folder("Scans", "hospital scans", client_metadata={"site": "A", "floor": 2})
    year = top.create_subfolder("2024")
    month = year.create_subfolder("March", client_metadata={"month": 3})

    fetched = client.get_storage_folder(month.uuid)

    assert (fetched.name, fetched.parent_uuid, fetched.client_metadata) == ("March", year.uuid, {"month": 3})
    assert [p.name for p in fetched.path_to_root] == ["March", "2024", "Scans"]
    assert client.get_storage_folder(top.uuid).client_metadata == {"site": "A", "floor": 2}
    assert [f.name for f in client.list_storage_folders()] == ["Scans"]
    assert [f.name for f in top.list_subfolders()] == ["2024"]
    assert [f.name for f in top.find_subfolders()] == ["2024", "March"]
    assert [f.uuid for f in client.find_storage_folders(search="mar")] == [month.uuid]
    assert fetched.parent is not None and fetched.parent.uuid == year.uuid


def test_folder_listings_sort_page_and_filter(sandbox: Sandbox, client: EncordUserClient) -> None:
    for name in ("beta", "Alpha", "gamma"):
        client.create_storage_folder(name)
    mirror = client.create_dataset("Mirror", StorageLocation.CORD_STORAGE)
    status, _ = sandbox.control(
        "PUT", f"/sandbox/v1/storage/folders/{mirror.backing_folder_uuid}/organisation-tags", {"names": ["radiology"]}
    )
    assert status == 200

    assert [f.name for f in client.list_storage_folders(page_size=1)] == ["Alpha", "beta", "gamma", "Mirror"]
    assert [f.name for f in client.list_storage_folders(desc=True, page_size=2)] == ["Mirror", "gamma", "beta", "Alpha"]
    assert [f.name for f in client.list_storage_folders(order=FoldersSortBy.CREATED_AT)] == [
        "beta", "Alpha", "gamma", "Mirror"
    ]  # fmt: skip
    assert [f.name for f in client.list_storage_folders(search="A")] == ["Alpha", "beta", "gamma"]
    assert [f.name for f in client.list_storage_folders(dataset_synced=True)] == ["Mirror"]
    tag = OrganisationTag(uuid=UUID(int=1), name="radiology")
    assert [f.name for f in client.find_storage_folders(organisation_tags_allof=[tag])] == ["Mirror"]
    (synced,) = client.list_storage_folders(dataset_synced=True)
    assert str(synced._orm_folder.synced_dataset_hash) == mirror.dataset_hash


def test_someone_elses_folders_and_items_are_refused_and_never_listed(
    client: EncordUserClient,
    seed: Callable[..., list[StorageItem]],
    sandbox: Sandbox,
    make_user: Callable[[], SandboxUser],
) -> None:
    folder = client.create_storage_folder("Private")
    (item,) = seed(folder, [{"name": "secret.jpg", "item_type": "image"}])
    other = EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)

    with pytest.raises(AuthorisationError):
        other.get_storage_folder(folder.uuid)
    with pytest.raises(AuthorisationError):
        other.get_storage_item(item.uuid)
    assert list(other.list_storage_folders()) == []
    assert list(other.find_storage_folders(search="Private")) == []


# ---- items ------------------------------------------------------------------------------------


def test_items_of_every_type_list_with_their_frames_and_summaries(
    client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    folder = client.create_storage_folder("Everything")
    seeded = by_name(seed(folder, EVERY_TYPE))

    listed = by_name(folder.list_items())
    assert set(seeded) <= set(listed)  # the frames of composite items are items of the folder too
    assert {"s0.jpg", "d1.jpg", "c0.dcm"} <= set(listed)
    assert {i.name for i in folder.list_items(item_types=[StorageItemType.DICOM_SERIES, StorageItemType.PDF])} == {
        "chest", "report.pdf"
    }  # fmt: skip
    clip = listed["clip.mp4"]
    assert (clip.item_type, clip.frame_count, clip.fps, clip.client_metadata) == (
        StorageItemType.VIDEO, 50, 25.0, {"camera": "front"}
    )  # fmt: skip
    assert (listed["photo.jpg"].width, listed["photo.jpg"].height) == (800, 600)
    assert [c.name for c in listed["street"].get_child_items()] == ["s0.jpg", "s1.jpg", "s2.jpg"]
    assert [c.name for c in listed["drive"].get_child_items()] == ["d0.jpg", "d1.jpg"]
    files = listed["chest"].get_child_items()
    assert [c.item_type for c in files] == [StorageItemType.DICOM_FILE] * 2
    assert (
        len({c.dicom_series_uid for c in files}) == 1 and files[0].dicom_series_uid == listed["chest"].dicom_series_uid
    )
    assert listed["clip.mp4"].get_child_items() == []

    summary = folder.get_summary()
    assert (summary.videos, summary.images, summary.image_groups, summary.image_sequences) == (1, 6, 1, 1)
    assert (summary.dicom_series, summary.dicom_files, summary.plain_texts, summary.audios, summary.pdfs) == (
        1,
        3,
        1,
        1,
        1,
    )
    assert summary.total_size == sum(i.file_size or 0 for i in listed.values())
    frame = listed["s1.jpg"].get_summary()
    assert frame.frame_in_groups == 1 and [g.name for g in frame.accessible_group_items] == ["street"]


def test_item_search_recurses_and_searches(client: EncordUserClient, seed: Callable[..., list[StorageItem]]) -> None:
    top = client.create_storage_folder("Top")
    deep = top.create_subfolder("Deep")
    seed(top, [{"name": "cat.jpg", "item_type": "image"}])
    seed(deep, [{"name": "Cat video.mp4", "item_type": "video"}, {"name": "dog.jpg", "item_type": "image"}])

    assert [i.name for i in top.list_items()] == ["cat.jpg"]
    assert [i.name for i in top.find_items(search="cat")] == ["Cat video.mp4", "cat.jpg"]  # by name, any case
    assert [i.name for i in top.find_items(item_types=[StorageItemType.IMAGE], desc=True)] == ["dog.jpg", "cat.jpg"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert {i.name for i in client.find_storage_items(search="CAT")} == {"cat.jpg", "Cat video.mp4"}


def test_signed_urls_download_the_items_bytes_and_expire(
    sandbox: Sandbox, client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    folder = client.create_storage_folder("Downloads")
    text, video = seed(
        folder,
        [
            {
                "name": "notes.txt",
                "item_type": "plainText",
                "content_base64": base64.b64encode(b"hello storage").decode(),
            },
            {"name": "clip.mp4", "item_type": "video", "file_size": 5000},
        ],
    )

    url = text.get_signed_url()
    assert url is not None and url.startswith(sandbox.url + "/sandbox/blobs/")
    downloaded = requests.get(url, timeout=10)
    assert (downloaded.status_code, downloaded.content) == (200, b"hello storage")
    assert downloaded.headers["Content-Type"].startswith("text/plain")
    video_bytes = requests.get(client.get_storage_item(video.uuid, sign_url=True)._orm_item.signed_url, timeout=10)
    assert video_bytes.status_code == 200 and len(video_bytes.content) == 5000 == video.file_size
    assert client.get_storage_item(text.uuid).get_signed_url() is not None  # signed on demand
    assert [i.name for i in folder.list_items(get_signed_urls=True) if i._orm_item.signed_url] == [
        "clip.mp4",
        "notes.txt",
    ]

    tampered = url.replace("signature=", "signature=0")
    assert requests.get(tampered, timeout=10).status_code == 403
    stretched = url.replace("expires=", "expires=9")
    assert requests.get(stretched, timeout=10).status_code == 403
    status, signed = sandbox.control(
        "POST", f"/sandbox/v1/storage/items/{text.uuid}/signed-url", {"lifetime_seconds": -1}
    )
    assert status == 200 and requests.get(signed["url"], timeout=10).status_code == 403
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403


def test_client_metadata_resolved_from_signed_urls_is_the_items_own(
    client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    folder = client.create_storage_folder("Metadata")
    seed(folder, [{"name": "a.jpg", "item_type": "image", "client_metadata": {"label": "cat", "score": 0.9}}])

    (resolved,) = folder.list_items(resolve_client_metadata_locally=True)
    (plain,) = folder.list_items(include_client_metadata=False)

    assert resolved.client_metadata == {"label": "cat", "score": 0.9}
    assert plain.client_metadata == {}


def test_item_and_folder_updates_single_and_bundled(
    client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    folder = client.create_storage_folder("Old")
    first, second = seed(folder, [{"name": "a.jpg", "item_type": "image"}, {"name": "b.jpg", "item_type": "image"}])

    folder.update(name="New", client_metadata={"owner": "ml"})
    first.update(name="first.jpg", client_metadata={"checked": True})
    with Bundle() as bundle:
        second.update(description="the second", client_metadata={"checked": False}, bundle=bundle)
        folder.update(description="renamed twice", bundle=bundle)

    assert (client.get_storage_folder(folder.uuid).name, folder.description) == ("New", "renamed twice")
    assert client.get_storage_folder(folder.uuid).client_metadata == {"owner": "ml"}
    fetched = by_name(client.get_storage_items([first.uuid, second.uuid]))
    assert fetched["first.jpg"].client_metadata == {"checked": True}
    assert (fetched["b.jpg"].description, fetched["b.jpg"].client_metadata) == ("the second", {"checked": False})
    assert second.description == "the second"  # the bundle's answer updated the SDK object


def test_moves_and_deletions(client: EncordUserClient, seed: Callable[..., list[StorageItem]]) -> None:
    inbox = client.create_storage_folder("Inbox")
    archive = client.create_storage_folder("Archive")
    clip, group = seed(inbox, [{"name": "clip.mp4", "item_type": "video"}, {"name": "g", "item_type": "imageGroup"}])

    clip.move_to_folder(archive)
    assert clip.parent_folder_uuid == archive.uuid
    assert [i.name for i in archive.list_items()] == ["clip.mp4"]
    inbox.move_to_folder(archive)
    assert [f.name for f in client.list_storage_folders()] == ["Archive"]
    assert [p.name for p in client.get_storage_folder(inbox.uuid).path_to_root] == ["Inbox", "Archive"]
    with pytest.raises(InvalidArgumentsError):
        archive.move_to_folder(inbox)  # into its own subfolder

    group.delete()  # and, by default, its frames nothing else uses
    assert list(inbox.list_items()) == []
    archive.delete()
    assert list(client.list_storage_folders()) == []
    with pytest.raises(AuthorisationError):
        client.get_storage_item(clip.uuid)


def test_deleting_a_group_can_keep_its_frames(client: EncordUserClient, seed: Callable[..., list[StorageItem]]) -> None:
    folder = client.create_storage_folder("Frames")
    (group,) = seed(folder, [{"name": "g", "item_type": "imageGroup", "children": ["f0.jpg", "f1.jpg"]}])

    folder.delete_storage_items([group.uuid], remove_unused_frames=False)

    assert [i.name for i in folder.list_items()] == ["f0.jpg", "f1.jpg"]


def test_data_groups_lay_items_out(client: EncordUserClient, seed: Callable[..., list[StorageItem]]) -> None:
    folder = client.create_storage_folder("Groups")
    left, right = seed(folder, [{"name": "l.jpg", "item_type": "image"}, {"name": "r.jpg", "item_type": "image"}])

    grid, custom = folder.create_data_groups(
        [
            DataGroupGrid(layout_contents=[left.uuid, right.uuid], name="pair"),
            DataGroupCustom(layout_contents={"main": left.uuid, "side": right.uuid}, timeline=["main"]),
        ]
    )

    groups = by_name(folder.list_items(item_types=[StorageItemType.GROUP]))
    assert set(groups) == {"pair", "Data group 2"} and groups["pair"].uuid == grid
    assert [c.uuid for c in groups["pair"].get_child_items()] == [left.uuid, right.uuid]
    layout = client.get_storage_item(custom).get_summary().data_group
    assert layout is not None and {k: v.uuid for k, v in layout.layout_contents.items()} == {
        "main": left.uuid, "side": right.uuid
    }  # fmt: skip
    assert layout.timeline == ["main"]
    with pytest.raises(InvalidArgumentsError):
        folder.create_data_group(DataGroupCustom(layout_contents={"a": left.uuid}, timeline=["missing"]))


def test_folder_config_keeps_what_the_sdk_does_not_model(client: EncordUserClient) -> None:
    folder = client.create_storage_folder("Synced")
    assert folder.get_folder_config().metadata_ingestion is None
    extra = StorageFolderConfig.model_validate({"retention": {"days": 30}})
    client._api_client.post(
        f"storage/folders/{folder.uuid}/folder-config", params=None, payload=extra, result_type=None
    )

    folder.enable_metadata_ingestion(SidecarMatcherSuffix(suffix=".sidecar.json"), paused=True)

    config = folder.get_folder_config()
    assert config.metadata_ingestion is not None
    assert (config.metadata_ingestion.matcher.suffix, config.metadata_ingestion.paused) == (".sidecar.json", True)
    assert config.get_extra("retention") == {"days": 30}


def test_migration_points_items_at_new_urls(client: EncordUserClient, seed: Callable[..., list[StorageItem]]) -> None:
    folder = client.create_storage_folder("Moving")
    first, second = seed(folder, [{"name": "a.jpg", "item_type": "image"}, {"name": "b.jpg", "item_type": "image"}])
    old_url = second.url

    update_storage_item_cloud_info(client, first, new_url="s3://bucket/a.jpg")
    update_storage_item_cloud_info(client, old_url, new_url="gs://bucket/b.jpg")

    moved = by_name(client.get_storage_items([first.uuid, second.uuid]))
    assert (moved["a.jpg"].url, moved["a.jpg"].storage_location.value) == ("s3://bucket/a.jpg", "s3")
    assert (moved["b.jpg"].url, moved["b.jpg"].storage_location.value) == ("gs://bucket/b.jpg", "gcp")
    with pytest.raises(InvalidArgumentsError):
        update_storage_item_cloud_info(client, "cord-storage/none", new_url="s3://x/y")


# ---- datasets and data units ------------------------------------------------------------------


def test_items_linked_into_a_dataset_are_its_data_units_and_a_project_reads_them(
    client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    folder = client.create_storage_folder("Library")
    clip, street, text = seed(
        folder,
        [
            {"name": "clip.mp4", "item_type": "video", "file_size": 3000, "client_metadata": {"camera": "front"}},
            {"name": "street", "item_type": "imageGroup", "children": ["a.jpg", "b.jpg"]},
            {"name": "notes.txt", "item_type": "plainText", "content_base64": base64.b64encode(b"words").decode()},
        ],
    )
    created = client.create_dataset("Linked", StorageLocation.CORD_STORAGE, create_backing_folder=False)
    dataset = client.get_dataset(created.dataset_hash)

    rows = dataset.link_items([clip.uuid, street.uuid, text.uuid])
    assert [(r.title, r.data_type, r.backing_item_uuid) for r in rows] == [
        ("clip.mp4", DataType.VIDEO, clip.uuid), ("street", DataType.IMG_GROUP, street.uuid),
        ("notes.txt", DataType.PLAIN_TEXT, text.uuid),
    ]  # fmt: skip
    assert dataset.link_items([clip.uuid]) == []  # already linked: skipped
    with pytest.raises(ResourceExistsError):
        dataset.link_items([clip.uuid], duplicates_behavior=DataLinkDuplicatesBehavior.FAIL)
    assert [r.title for r in dataset.list_data_rows(data_types=[DataType.VIDEO, DataType.PLAIN_TEXT])] == [
        "clip.mp4", "notes.txt"
    ]  # fmt: skip
    assert [r.title for r in dataset.list_data_rows(title_like="%.txt")] == ["notes.txt"]
    assert {i.name for i in folder.list_items(is_in_dataset=True)} == {"clip.mp4", "street", "notes.txt"}
    usage = clip.get_summary()
    assert usage.used_in_datasets == 1 and usage.accessible_datasets[0].dataset_hash == created.dataset_hash

    project = client.get_project(client.create_project("Reader", [created.dataset_hash]))
    video, images = project.get_data(rows[0].uid, get_signed_url=True)
    assert images is None and video is not None and video["title"] == "clip.mp4"
    assert len(requests.get(video["file_link"], timeout=10).content) == 3000
    video, images = project.get_data(rows[1].uid, get_signed_url=True)
    assert video is None and images is not None and [i["title"] for i in images] == ["a.jpg", "b.jpg"]
    assert all(requests.get(i["file_link"], timeout=10).status_code == 200 for i in images)

    unit = rows[2]
    unit.refetch_data(signed_url=True, client_metadata=True)
    assert requests.get(unit.signed_url, timeout=10).content == b"words"
    group_row = rows[1]
    group_row.refetch_data(images_data_fetch_options=ImagesDataFetchOptions(fetch_signed_urls=True))
    assert group_row.images_data is not None and all(i.signed_url for i in group_row.images_data)


def test_a_mirror_dataset_and_its_backing_folder_stay_in_step(
    sandbox: Sandbox, client: EncordUserClient, seed: Callable[..., list[StorageItem]]
) -> None:
    created = client.create_dataset("Mirror", StorageLocation.CORD_STORAGE)
    folder = client.get_storage_folder(created.backing_folder_uuid)
    assert folder.name == "Mirror" and str(folder._orm_folder.synced_dataset_hash) == created.dataset_hash

    (unit,) = sandbox.seed_data_units(
        created.dataset_hash, [{"title": "scan", "data_type": "DICOM", "images": ["1", "2"]}]
    )
    (arrived,) = seed(folder, [{"name": "arrived.mp4", "item_type": "video"}])
    dataset = client.get_dataset(created.dataset_hash)

    assert {i.name for i in folder.list_items()} == {"scan", "1", "2", "arrived.mp4"}
    assert [(r.title, str(r.backing_item_uuid)) for r in dataset.data_rows] == [
        ("scan", unit["backing_item_uuid"]), ("arrived.mp4", str(arrived.uuid))
    ]  # fmt: skip
    elsewhere = client.create_storage_folder("Elsewhere")
    with pytest.raises(InvalidArgumentsError):
        folder.move_items_to_folder(elsewhere, [arrived.uuid])
    folder.move_items_to_folder(elsewhere, [arrived.uuid], allow_mirror_dataset_changes=True)
    assert [r.title for r in client.get_dataset(created.dataset_hash).data_rows] == ["scan"]

    dataset.delete_data([unit["data_hash"]])
    assert list(folder.list_items()) == []
    with pytest.raises(InvalidArgumentsError):
        folder.delete()


def test_data_unit_edits_and_item_edits_agree(client: EncordUserClient, sandbox: Sandbox) -> None:
    created = client.create_dataset("Edits", StorageLocation.CORD_STORAGE)
    sandbox.seed_data_units(created.dataset_hash, [{"title": "a.jpg"}, {"title": "b.jpg"}])
    first, second = client.get_dataset(created.dataset_hash).data_rows

    first.title = "front.jpg"
    first.client_metadata = {"side": "front"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first.save()
    assert client.get_dataset(created.dataset_hash).update_data_item(second.uid, "back.jpg")
    item = client.get_storage_item(first.backing_item_uuid)
    item.update(client_metadata={"side": "front", "checked": True})

    assert (item.name, client.get_storage_item(second.backing_item_uuid).name) == ("front.jpg", "back.jpg")
    (row,) = client.get_dataset(created.dataset_hash).list_data_rows(data_hashes=[first.uid])
    row.refetch_data(client_metadata=True)
    assert (row.title, row.client_metadata) == ("front.jpg", {"side": "front", "checked": True})


def test_re_encoding_finishes_after_a_poll_or_two(client: EncordUserClient, sandbox: Sandbox) -> None:
    created = client.create_dataset("Videos", StorageLocation.CORD_STORAGE, create_backing_folder=False)
    video, image = sandbox.seed_data_units(
        created.dataset_hash, [{"title": "v.mp4", "data_type": "VIDEO"}, {"title": "i.jpg"}]
    )
    dataset = client.get_dataset(created.dataset_hash)

    job = dataset.re_encode_data([video["data_hash"]])
    statuses = [dataset.re_encode_data_status(job) for _ in range(2)]

    assert [s.status for s in statuses] == ["SUBMITTED", "DONE"]
    (result,) = statuses[1].result or []
    assert result.data_hash == video["data_hash"] and result.signed_url is not None
    assert len(requests.get(result.signed_url, timeout=10).content) == video["file_size"]
    with pytest.raises(InvalidArgumentsError):
        dataset.re_encode_data([image["data_hash"]])


def test_storage_folders_of_a_user_role_are_admin(client: EncordUserClient) -> None:
    folder = client.create_storage_folder("Mine")
    assert folder._orm_folder.user_role == StorageUserRole.ADMIN
    assert folder.create_subfolder("Child")._orm_folder.user_role == StorageUserRole.ADMIN
