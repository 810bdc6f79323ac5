"""The official SDK curating data in Index and Active against the sandbox: collections, filter presets, imports.

Index collections hold storage items. The storage domain is written apart from this one, so these tests name
items by fresh UUIDs, which the sandbox keeps as given; with no storage items to show, the SDK lists them as
inaccessible and resolves no Data Title.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import AuthorisationError, InvalidArgumentsError, ResourceNotFoundError
from encord.orm.active import ActiveProjectMode
from encord.orm.collection import (
    ProjectCollectionType,
    ProjectDataCollectionItemRequest,
    ProjectLabelCollectionItemRequest,
)
from encord.orm.dataset import StorageLocation
from encord.orm.filter_preset import ActiveFilterPresetDefinition, FilterDefinition
from encord.project import Project
from encord.storage import StorageItemInaccessible
from encord.utilities.project_user import ProjectUserRole

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

FOLDER = "6c5f0e2a-1d0b-4a53-9b7e-2f4a51c0d001"  # a top-level folder, kept as given by the sandbox
LOCAL = "00000000-0000-0000-0000-000000000000"


def index_filters(metric: str) -> dict[str, Any]:
    """An Index preset definition as the web app writes it (snake_case keys)."""
    return {
        "local_filters": {LOCAL: {"filters": [{"key": metric, "type": "metric", "values": [0.2, 0.9]}]}},
        "global_filters": {"filters": []},
    }


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def other_client(sandbox: Sandbox, make_user: Callable[[], SandboxUser]) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)


@pytest.fixture
def project(client: EncordUserClient, sandbox: Sandbox) -> tuple[Project, dict[str, str]]:
    """A project over a dataset holding a 10-frame video and an image; their data hashes by title."""
    dataset = client.create_dataset("Curated", StorageLocation.CORD_STORAGE)
    rows = sandbox.seed_data_units(
        dataset.dataset_hash,
        [{"title": "drive.mp4", "data_type": "VIDEO", "frames": 10}, {"title": "still.jpg", "data_type": "IMAGE"}],
    )
    project = client.get_project(client.create_project("Curation", [dataset.dataset_hash]))
    return project, {r["data_title"]: r["data_hash"] for r in rows}


# ---- Index collections (E-05) ----------------------------------------------------------------------


def test_index_collection_is_created_filled_listed_and_emptied(client: EncordUserClient, sandbox: Sandbox) -> None:
    folder = client.create_storage_folder("Index root")
    items = [i["uuid"] for i in sandbox.seed_storage_items(str(folder.uuid), [
        {"name": f"night-{n}.jpg", "item_type": "image"} for n in range(3)
    ])]  # fmt: skip
    collection = client.create_collection(str(folder.uuid), "Night shots", "dark frames")

    added = collection.add_items(items)
    again = collection.add_items(items[:1])  # adding twice keeps one
    listed = list(collection.list_items_include_inaccessible(page_size=2))  # paged: two pages
    removed = collection.remove_items([items[1], str(uuid.uuid4())])

    assert (collection.name, collection.description, str(collection.top_level_folder_uuid)) == (
        "Night shots",
        "dark frames",
        str(folder.uuid),
    )
    assert added.failed_items == [] and again.failed_items == []
    assert [str(i.uuid) for i in listed] == items
    assert not any(isinstance(i, StorageItemInaccessible) for i in listed)  # the caller's own items, in full
    assert len(removed.failed_items) == 1 and str(removed.failed_items[0]) != items[1]
    assert [str(i.uuid) for i in collection.list_items_include_inaccessible()] == [items[0], items[2]]
    assert [i.name for i in collection.list_items()] == ["night-0.jpg", "night-2.jpg"]


def test_items_of_another_user_are_inaccessible_and_unknown_ones_fail(
    client: EncordUserClient, other_client: EncordUserClient, sandbox: Sandbox
) -> None:
    theirs = other_client.create_storage_folder("Theirs")
    (their_item,) = sandbox.seed_storage_items(str(theirs.uuid), [{"name": "private.jpg", "item_type": "image"}])
    collection = client.create_collection(FOLDER, "Mixed")

    added = collection.add_items([their_item["uuid"], str(uuid.uuid4())])

    assert len(added.failed_items) == 1  # an unknown UUID is no storage item
    listed = list(collection.list_items_include_inaccessible())
    assert [type(i) for i in listed] == [StorageItemInaccessible]
    assert list(collection.list_items()) == []


def test_index_collections_list_by_folder_and_by_uuid_across_pages(client: EncordUserClient) -> None:
    other_folder = str(uuid.uuid4())
    made = [client.create_collection(FOLDER, f"Set {n}") for n in range(3)]
    client.create_collection(other_folder, "Elsewhere")

    in_folder = list(client.list_collections(FOLDER, page_size=2))
    chosen = list(client.list_collections(collection_uuids=[made[0].uuid, made[2].uuid]))

    assert [c.name for c in in_folder] == ["Set 0", "Set 1", "Set 2"]
    assert [c.uuid for c in chosen] == [made[0].uuid, made[2].uuid]
    assert client.get_collection(made[1].uuid).name == "Set 1"


def test_index_collection_update_and_delete(client: EncordUserClient) -> None:
    collection = client.create_collection(FOLDER, "Draft")

    collection.update_collection(name="Final", description="reviewed")
    reread = client.get_collection(collection.uuid)
    client.delete_collection(collection.uuid)

    assert (reread.name, reread.description) == ("Final", "reviewed")
    assert reread.last_edited_at is not None and reread.created_at is not None
    assert reread.last_edited_at >= reread.created_at
    with pytest.raises(AuthorisationError, match="No collection found"):
        client.get_collection(collection.uuid)


def test_items_by_data_title_are_sent_in_batches_and_counted_over_all_of_them(client: EncordUserClient) -> None:
    collection = client.create_collection(FOLDER, "Titles")
    titles = [f"frame-{n:05}.jpg" for n in range(2500)] + ["frame-00000.jpg"]  # the SDK sends a repeat once

    result = collection.add_items_by_title(titles)

    assert (result.requested, result.matched_titles, result.items_added) == (2500, 0, 0)
    assert len(result.unmatched_titles) == 2500 and result.ambiguous_titles == []


def test_someone_elses_collection_is_not_found(client: EncordUserClient, sandbox: Sandbox) -> None:
    collection = client.create_collection(FOLDER, "Private")
    stranger = EncordUserClient.create_with_ssh_private_key(sandbox.new_user().openssh, domain=sandbox.url)

    with pytest.raises(AuthorisationError):
        stranger.get_collection(collection.uuid)
    stranger.delete_collection(collection.uuid)  # deletes "if it exists": for the stranger, it does not
    assert client.get_collection(collection.uuid).name == "Private"


# ---- Index filter presets (E-07) -------------------------------------------------------------------


def test_index_filter_preset_round_trips_its_definition_and_edits(client: EncordUserClient) -> None:
    preset = client.create_preset("Bright", index_filters("brightness"), "well lit")
    created = (preset.name, preset.description)

    definition = preset.get_filter_preset_json()
    preset.update_preset(name="Brighter", filter_preset_json=index_filters("contrast"))
    reread = client.get_filter_preset(preset.uuid)

    assert created == ("Bright", "well lit")
    assert definition.local_filters[LOCAL].filters == [{"key": "brightness", "type": "metric", "values": [0.2, 0.9]}]
    assert reread.name == "Brighter" and reread.description == "well lit"
    assert reread.get_filter_preset_json().local_filters[LOCAL].filters[0]["key"] == "contrast"


def test_index_filter_presets_list_get_and_delete(client: EncordUserClient) -> None:
    first = client.create_preset("One", index_filters("a"))
    second = client.create_preset("Two", index_filters("b"))

    listed = [p.name for p in client.list_presets(page_size=1)]
    fetched = [p.uuid for p in client.get_filter_presets([second.uuid])]
    client.delete_preset(first.uuid)

    assert listed == ["One", "Two"]
    assert fetched == [second.uuid]
    assert [p.name for p in client.list_presets()] == ["Two"]


def test_a_collection_takes_a_presets_items_only_from_an_existing_preset(client: EncordUserClient) -> None:
    collection = client.create_collection(FOLDER, "From preset")
    preset = client.create_preset("Dark", index_filters("darkness"))

    collection.add_preset_items(preset)  # the sandbox evaluates no filters: nothing matches
    collection.remove_preset_items(preset.uuid)

    assert list(collection.list_items_include_inaccessible()) == []
    with pytest.raises(ResourceNotFoundError):
        collection.add_preset_items(uuid.uuid4())


# ---- project collections (E-06) --------------------------------------------------------------------


def test_frame_collection_holds_frames_of_the_projects_data_units(
    project: tuple[Project, dict[str, str]],
) -> None:
    active, data = project
    stranger = str(uuid.uuid4())
    collection = active.create_collection("Busy frames", "many cars")

    result = collection.add_items(
        [
            ProjectDataCollectionItemRequest(data_uuid=data["drive.mp4"], frame=3),
            ProjectDataCollectionItemRequest(data_uuid=data["drive.mp4"], frame=7),
            ProjectDataCollectionItemRequest(data_uuid=data["still.jpg"], frame=0),
            ProjectDataCollectionItemRequest(data_uuid=data["drive.mp4"], frame=10),  # past the last frame
            ProjectDataCollectionItemRequest(data_uuid=stranger, frame=0),  # no data unit of the project
        ]
    )
    frames = [(row.data_title, [i.frame for i in instances]) for row, instances in collection.list_frames(page_size=1)]

    assert collection.collection_type == ProjectCollectionType.FRAME
    assert [(str(f.data_uuid), f.frame) for f in result.failed_items] == [(data["drive.mp4"], 10), (stranger, 0)]
    assert frames == [("drive.mp4", [3, 7]), ("still.jpg", [0])]


def test_label_collection_holds_annotations_and_lets_them_go(project: tuple[Project, dict[str, str]]) -> None:
    active, data = project
    collection = active.create_collection("Odd boxes", collection_type=ProjectCollectionType.LABEL)
    box, other, never_added = (
        ProjectLabelCollectionItemRequest(data_uuid=data["drive.mp4"], frame=2, annotation_id="aB3dE5fG"),
        ProjectLabelCollectionItemRequest(data_uuid=data["drive.mp4"], frame=2, annotation_id="zZ9yY8xX"),
        ProjectLabelCollectionItemRequest(data_uuid=data["still.jpg"], frame=0, annotation_id="never-added"),
    )

    added = collection.add_items([box, other, ProjectDataCollectionItemRequest(data_uuid=data["still.jpg"], frame=0)])
    removed = collection.remove_items([other, never_added])
    listed = [
        (row.data_hash, [(i.frame, i.annotation_id) for i in found]) for row, found in collection.list_annotations()
    ]

    assert [str(f.data_uuid) for f in added.failed_items] == [data["still.jpg"]]  # a frame is no annotation
    assert [getattr(f, "annotation_id", None) for f in removed.failed_items] == ["never-added"]
    assert listed == [(data["drive.mp4"], [(2, "aB3dE5fG")])]


def test_project_collections_list_update_and_delete(project: tuple[Project, dict[str, str]]) -> None:
    active, _ = project
    first = active.create_collection("First")
    second = active.create_collection("Second", collection_type=ProjectCollectionType.LABEL)

    first.update_collection(name="Renamed", description="now described")
    listed = [(c.name, c.collection_type) for c in active.list_collections(page_size=1)]
    fetched = active.get_collection(first.uuid)
    active.delete_collection(second.uuid)

    assert listed == [("Renamed", ProjectCollectionType.FRAME), ("Second", ProjectCollectionType.LABEL)]
    assert (fetched.name, fetched.description, fetched.project_hash) == (
        "Renamed",
        "now described",
        uuid.UUID(active.project_hash),
    )
    assert [c.uuid for c in active.list_collections()] == [first.uuid]
    with pytest.raises(AuthorisationError):
        active.get_collection(second.uuid)
    active.delete_collection(second.uuid)  # gone already: deleting it again changes nothing


# ---- project filter presets (E-08) -----------------------------------------------------------------


def active_filters(metric: str) -> ActiveFilterPresetDefinition:
    return ActiveFilterPresetDefinition(
        local_filters={LOCAL: FilterDefinition(filters=[{"key": metric, "type": "metric", "values": [1, 5]}])},
        global_filters=FilterDefinition(filters=[]),
    )


def test_project_filter_preset_round_trips_and_feeds_a_collection(project: tuple[Project, dict[str, str]]) -> None:
    active, _ = project
    preset = active.create_filter_preset("Crowded", active_filters("object_count"))
    collection = active.create_collection("From preset")

    raw = preset.get_filter_preset_json()
    preset.update_preset(name="Very crowded", filter_preset=active_filters("object_density"))
    collection.add_preset_items(preset.uuid)  # (the SDK takes only an Index FilterPreset object); nothing matches
    listed = [(p.name, p.uuid) for p in active.list_filter_presets()]

    assert raw.local_filters[LOCAL].filters == [{"key": "object_count", "type": "metric", "values": [1, 5]}]
    assert listed == [("Very crowded", preset.uuid)]
    assert active.get_filter_preset(preset.uuid).get_filter_preset_json().local_filters[LOCAL].filters[0]["key"] == (
        "object_density"
    )
    assert list(collection.list_frames()) == []
    active.delete_filter_preset(preset.uuid)
    assert list(active.list_filter_presets()) == []
    with pytest.raises(ResourceNotFoundError):
        collection.remove_preset_items(preset.uuid)


# ---- Active import and sync (E-04) -----------------------------------------------------------------


def test_a_project_is_synced_with_active_only_once_imported(project: tuple[Project, dict[str, str]]) -> None:
    active, _ = project

    with pytest.raises(InvalidArgumentsError):
        active.active_sync()
    active.active_import(ActiveProjectMode.METRIC, video_sampling_rate=2.5)
    active.active_sync()


def test_only_the_projects_admin_curates_it(
    project: tuple[Project, dict[str, str]], sandbox: Sandbox, make_user: Callable[[], SandboxUser]
) -> None:
    active, _ = project
    annotator = make_user()
    active.add_users([annotator.email], ProjectUserRole.ANNOTATOR)
    theirs = EncordUserClient.create_with_ssh_private_key(annotator.openssh, domain=sandbox.url).get_project(
        active.project_hash
    )
    active.create_collection("Visible to members")

    assert [c.name for c in theirs.list_collections()] == ["Visible to members"]
    with pytest.raises(AuthorisationError):
        theirs.create_collection("Not theirs to make")
