"""Index and Active curation through a real gateway: collections filled and paged, filter presets with their
free-form definitions, project collections over REST, Active import and sync, cached reads refreshed by the
writes that change them, and bad input refused before Encord.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import (
    active_pb2,
    active_pb2_grpc,
    datasets_pb2,
    projects_pb2,
    storage_pb2,
    storage_pb2_grpc,
)
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs

LOCAL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def index(channel: grpc.Channel) -> active_pb2_grpc.IndexServiceStub:
    return active_pb2_grpc.IndexServiceStub(channel)


@pytest.fixture(scope="module")
def active(channel: grpc.Channel) -> active_pb2_grpc.ActiveServiceStub:
    return active_pb2_grpc.ActiveServiceStub(channel)


def struct(python: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(python)
    return message


def index_filters(metric: str) -> dict[str, Any]:
    return {
        "local_filters": {LOCAL: {"filters": [{"key": metric, "type": "metric", "values": [0.25, 0.75]}]}},
        "global_filters": {"filters": []},
    }


@pytest.fixture
def folder_items(gateway: GatewayProcess, channel: grpc.Channel, sandbox: Sandbox) -> tuple[str, list[str]]:
    """A top-level folder of the gateway's organisation holding three image items: (folder, item UUIDs)."""
    storage = storage_pb2_grpc.StorageServiceStub(channel)
    request = storage_pb2.CreateStorageFolderRequest(name=f"index-{uuid.uuid4().hex[:8]}")
    folder = storage.CreateStorageFolder(request, metadata=gateway.auth_metadata).uuid
    seeded = sandbox.seed_storage_items(folder, [{"name": f"n{i}.jpg", "item_type": "image"} for i in range(3)])
    return folder, [item["uuid"] for item in seeded]


def upstream_reads(sandbox: Sandbox, path: str) -> int:
    return sum(1 for e in sandbox.requests_log() if e["method"] == "GET" and e["path"] == f"/v2/public/{path}")


@pytest.fixture
def project(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> dict[str, str]:
    """A project over a dataset holding a 10-frame video and an image."""
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(
        datasets_pb2.CreateDatasetRequest(title=make_title("curated")), metadata=md
    ).dataset_hash
    video, image = sandbox.seed_data_units(
        dataset, [{"title": "drive.mp4", "data_type": "VIDEO", "frames": 10}, {"title": "still.jpg"}]
    )
    project_hash = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("curation"), dataset_hashes=[dataset]), metadata=md
    ).project_hash
    return {"project": project_hash, "video": video["data_hash"], "image": image["data_hash"]}


# ---- Index ------------------------------------------------------------------------------------------


def test_an_index_collection_is_made_filled_paged_and_deleted(
    gateway: GatewayProcess, index: active_pb2_grpc.IndexServiceStub, folder_items: tuple[str, list[str]]
) -> None:
    md = gateway.auth_metadata
    folder, items = folder_items
    created = index.CreateIndexCollection(
        active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=folder, name="Night", description="dark"),
        metadata=md,
    )
    index.CreateIndexCollection(
        active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=folder, name="Day"), metadata=md
    )
    missing = str(uuid.uuid4())

    added = index.AddIndexCollectionItems(
        active_pb2.AddIndexCollectionItemsRequest(collection_uuid=created.uuid, item_uuids=[*items, missing]),
        metadata=md,
    )
    first = index.ListIndexCollections(
        active_pb2.ListIndexCollectionsRequest(top_level_folder_uuid=folder, page_size=1), metadata=md
    )
    second = index.ListIndexCollections(
        active_pb2.ListIndexCollectionsRequest(
            top_level_folder_uuid=folder, page_size=1, page_token=first.next_page_token
        ),
        metadata=md,
    )
    everything = index.ListAllIndexCollectionItems(
        active_pb2.ListAllIndexCollectionItemsRequest(collection_uuid=created.uuid), metadata=md
    )
    accessible = index.ListIndexCollectionItems(
        active_pb2.ListIndexCollectionItemsRequest(collection_uuid=created.uuid), metadata=md
    )
    index.DeleteIndexCollection(active_pb2.DeleteIndexCollectionRequest(collection_uuid=created.uuid), metadata=md)

    assert (created.name, created.description, created.top_level_folder_uuid) == ("Night", "dark", folder)
    assert list(added.failed_items) == [missing]  # not a storage item
    assert [c.name for c in first.collections] == ["Night"] and first.next_page_token
    assert [c.name for c in second.collections] == ["Day"] and second.next_page_token == ""
    assert [i["uuid"] for i in map(json_format.MessageToDict, everything.items)] == items
    assert [i["name"] for i in map(json_format.MessageToDict, accessible.items)] == ["n0.jpg", "n1.jpg", "n2.jpg"]
    with pytest.raises(grpc.RpcError) as caught:
        index.GetIndexCollection(active_pb2.GetIndexCollectionRequest(collection_uuid=created.uuid), metadata=md)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_renaming_a_collection_refreshes_its_cached_read(
    gateway: GatewayProcess, index: active_pb2_grpc.IndexServiceStub, sandbox: Sandbox
) -> None:
    md = gateway.auth_metadata
    created = index.CreateIndexCollection(
        active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=str(uuid.uuid4()), name="Before"), metadata=md
    )
    read = active_pb2.GetIndexCollectionRequest(collection_uuid=created.uuid)
    index.GetIndexCollection(read, metadata=md)
    _, cached = index.GetIndexCollection.with_call(read, metadata=md)
    assert dict(cached.initial_metadata())["x-cache"] == "hit"

    index.UpdateIndexCollection(
        active_pb2.UpdateIndexCollectionRequest(collection_uuid=created.uuid, name="After"), metadata=md
    )
    renamed, fresh = index.GetIndexCollection.with_call(read, metadata=md)

    assert dict(fresh.initial_metadata())["x-cache"] == "miss"
    assert (renamed.name, renamed.description) == ("After", "")


def test_titles_are_counted_and_more_than_encord_takes_in_one_call_are_sent_in_parts(
    gateway: GatewayProcess,
    index: active_pb2_grpc.IndexServiceStub,
    sandbox: Sandbox,
    folder_items: tuple[str, list[str]],
) -> None:
    md = gateway.auth_metadata
    folder, _ = folder_items
    created = index.CreateIndexCollection(
        active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=folder, name="Titles"), metadata=md
    )

    counted = index.AddIndexCollectionItemsByTitle(
        active_pb2.AddIndexCollectionItemsByTitleRequest(collection_uuid=created.uuid, data_titles=["n0.jpg", "b.jpg"]),
        metadata=md,
    )
    before = len(sandbox.requests_log())
    many = [f"{n}.jpg" for n in range(1001)]
    merged = index.AddIndexCollectionItemsByTitle(
        active_pb2.AddIndexCollectionItemsByTitleRequest(collection_uuid=created.uuid, data_titles=many), metadata=md
    )

    assert (counted.requested, counted.matched_titles, list(counted.unmatched_titles)) == (2, 1, ["b.jpg"])
    # Encord takes 1000 titles a call: two calls, their answers added up in order.
    calls = [e for e in sandbox.requests_log()[before:] if e["path"].endswith("/add-data-title-items")]
    assert len(calls) == 2
    assert (merged.requested, list(merged.unmatched_titles)) == (1001, many)


def test_an_index_filter_preset_keeps_its_free_form_definition(
    gateway: GatewayProcess, index: active_pb2_grpc.IndexServiceStub, make_title: Callable[[str], str]
) -> None:
    md = gateway.auth_metadata
    name = make_title("Bright")
    preset = index.CreateIndexFilterPreset(
        active_pb2.CreateIndexFilterPresetRequest(name=name, filter_preset_json=struct(index_filters("brightness"))),
        metadata=md,
    )
    index.UpdateIndexFilterPreset(
        active_pb2.UpdateIndexFilterPresetRequest(
            preset_uuid=preset.uuid, filter_preset=struct(index_filters("contrast"))
        ),
        metadata=md,
    )

    fetched = index.GetIndexFilterPreset(active_pb2.GetIndexFilterPresetRequest(preset_uuid=preset.uuid), metadata=md)
    definition = index.GetIndexFilterPresetDefinition(
        active_pb2.GetIndexFilterPresetDefinitionRequest(preset_uuid=preset.uuid), metadata=md
    )

    assert (preset.name, fetched.name, fetched.uuid) == (name, name, preset.uuid)
    assert json_format.MessageToDict(definition.definition) == index_filters("contrast")


def test_a_collection_takes_preset_items_only_from_a_preset_that_exists(
    gateway: GatewayProcess, index: active_pb2_grpc.IndexServiceStub
) -> None:
    md = gateway.auth_metadata
    created = index.CreateIndexCollection(
        active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=str(uuid.uuid4()), name="Presets"), metadata=md
    )

    with pytest.raises(grpc.RpcError) as caught:
        index.AddIndexCollectionPresetItems(
            active_pb2.AddIndexCollectionPresetItemsRequest(
                collection_uuid=created.uuid, preset_uuid=str(uuid.uuid4())
            ),
            metadata=md,
        )

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# ---- Active -----------------------------------------------------------------------------------------


def test_a_project_collection_over_rest_holds_frames_of_the_projects_data_units(
    gateway: GatewayProcess, project: dict[str, str]
) -> None:
    base = f"/v1/projects/{project['project']}/collections"
    created = gateway.rest(
        "POST", base, body={"name": "Busy frames", "collection_type": "PROJECT_COLLECTION_TYPE_FRAME"}
    ).json()
    collection = f"{base}/{created['collection_uuid']}"

    added = gateway.rest(
        "POST",
        f"{collection}:addItems",
        body={"items": [{"data_uuid": project["video"], "frame": 3}, {"data_uuid": project["video"], "frame": 10}]},
    ).json()
    frames = gateway.rest("GET", f"{collection}/frames").json()
    annotations = gateway.rest("GET", f"{collection}/annotations")

    assert created["collection_type"] == "PROJECT_COLLECTION_TYPE_FRAME" and created["name"] == "Busy frames"
    assert added == {"failed_items": [{"data_uuid": project["video"], "frame": 10}]}  # a 10-frame video ends at 9
    (entry,) = frames["entries"]
    assert entry["instances"] == [{"frame": 3}]
    assert (entry["label_row_metadata"]["data_uuid"], entry["label_row_metadata"]["data_title"]) == (
        project["video"],
        "drive.mp4",
    )
    assert annotations.status == 400  # a FRAME collection holds no annotations


def test_a_label_collection_holds_annotations_and_lists_them(
    gateway: GatewayProcess, active: active_pb2_grpc.ActiveServiceStub, project: dict[str, str]
) -> None:
    md = gateway.auth_metadata
    created = active.CreateProjectCollection(
        active_pb2.CreateProjectCollectionRequest(
            project_hash=project["project"], name="Boxes", collection_type=active_pb2.PROJECT_COLLECTION_TYPE_LABEL
        ),
        metadata=md,
    )
    ids = {"project_hash": project["project"], "collection_uuid": created.collection_uuid}
    box = active_pb2.ProjectCollectionItem(data_uuid=project["video"], frame=2, annotation_id="aB3dE5fG")

    active.AddProjectCollectionItems(active_pb2.AddProjectCollectionItemsRequest(**ids, items=[box]), metadata=md)
    listed = active.ListProjectCollectionAnnotations(
        active_pb2.ListProjectCollectionAnnotationsRequest(**ids), metadata=md
    )
    removed = active.RemoveProjectCollectionItems(
        active_pb2.RemoveProjectCollectionItemsRequest(**ids, items=[box, box]), metadata=md
    )
    after = active.ListProjectCollectionAnnotations(
        active_pb2.ListProjectCollectionAnnotationsRequest(**ids), metadata=md
    )

    assert [(i.frame, i.annotation_id) for e in listed.entries for i in e.instances] == [(2, "aB3dE5fG")]
    assert list(removed.failed_items) == [box]  # the second removal found nothing left to remove
    assert list(after.entries) == []


def test_a_project_filter_preset_round_trips_its_definition(
    gateway: GatewayProcess, active: active_pb2_grpc.ActiveServiceStub, project: dict[str, str]
) -> None:
    md = gateway.auth_metadata
    definition = {"localFilters": {LOCAL: {"filters": [{"key": "object_count", "values": [1, 5]}]}},
                  "globalFilters": {"filters": []}}  # fmt: skip
    preset = active.CreateProjectFilterPreset(
        active_pb2.CreateProjectFilterPresetRequest(
            project_hash=project["project"], name="Crowded", filter_preset_json=struct(definition)
        ),
        metadata=md,
    )
    ids = {"project_hash": project["project"], "preset_uuid": preset.preset_uuid}

    listed = active.ListProjectFilterPresets(
        active_pb2.ListProjectFilterPresetsRequest(project_hash=project["project"]), metadata=md
    )
    raw = active.GetProjectFilterPresetDefinition(
        active_pb2.GetProjectFilterPresetDefinitionRequest(**ids), metadata=md
    )
    active.DeleteProjectFilterPreset(active_pb2.DeleteProjectFilterPresetRequest(**ids), metadata=md)

    assert [(p.preset_uuid, p.name) for p in listed.presets] == [(preset.preset_uuid, "Crowded")]
    assert json_format.MessageToDict(raw.definition) == definition
    with pytest.raises(grpc.RpcError) as caught:
        active.GetProjectFilterPreset(active_pb2.GetProjectFilterPresetRequest(**ids), metadata=md)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_project_is_synced_with_active_only_once_imported(
    gateway: GatewayProcess, active: active_pb2_grpc.ActiveServiceStub, sandbox: Sandbox, project: dict[str, str]
) -> None:
    md = gateway.auth_metadata
    sync = active_pb2.SyncProjectWithActiveRequest(project_hash=project["project"])

    with pytest.raises(grpc.RpcError) as caught:
        active.SyncProjectWithActive(sync, metadata=md)
    active.ImportProjectIntoActive(
        active_pb2.ImportProjectIntoActiveRequest(
            project_hash=project["project"], project_mode=active_pb2.ACTIVE_PROJECT_MODE_METRIC, video_sampling_rate=2
        ),
        metadata=md,
    )
    sandbox.clear_requests_log()
    active.SyncProjectWithActive(sync, metadata=md)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(e["method"], e["path"], e["outcome"]) for e in sandbox.requests_log()] == [
        ("POST", f"/v2/public/active/{project['project']}/sync", "ok")
    ]


@pytest.mark.parametrize(
    ("service", "rpc", "request_message", "field"),
    [
        ("index", "GetIndexCollection", active_pb2.GetIndexCollectionRequest(collection_uuid="nope"), "collection_uuid"),
        ("index", "CreateIndexCollection", active_pb2.CreateIndexCollectionRequest(top_level_folder_uuid=LOCAL), "name"),
        ("active", "ImportProjectIntoActive", active_pb2.ImportProjectIntoActiveRequest(project_hash=LOCAL),
         "project_mode"),
        ("active", "AddProjectCollectionItems",
         active_pb2.AddProjectCollectionItemsRequest(project_hash=LOCAL, collection_uuid=LOCAL), "items"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field_without_calling_encord(
    gateway: GatewayProcess,
    active: active_pb2_grpc.ActiveServiceStub,
    index: active_pb2_grpc.IndexServiceStub,
    sandbox: Sandbox,
    service: str,
    rpc: str,
    request_message: Any,
    field: str,
) -> None:
    sandbox.clear_requests_log()
    stub = {"active": active, "index": index}[service]

    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, rpc)(request_message, metadata=gateway.auth_metadata)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")
    assert sandbox.requests_log() == []
