"""COCO export and import through a real gateway, held against the official SDK on the same project."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord import EncordUserClient
from encord.objects import Object, OntologyStructure, Shape
from encord.objects.attributes import ChecklistAttribute, RadioAttribute
from encord.objects.coordinates import BoundingBoxCoordinates, PointCoordinate, PolygonCoordinates
from encord.orm.dataset import StorageLocation
from encord.project import Project
from encord.utilities.coco.datastructure import FrameIndex
from encord_gateway._generated.encord.gateway.v1 import exports_pb2, exports_pb2_grpc
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox

UNITS = [
    {"title": "street.jpg", "data_type": "IMAGE"},
    {"title": "drive.mp4", "data_type": "VIDEO", "frames": 5},
    {"title": "burst", "data_type": "IMG_GROUP", "images": ["b0.jpg", "b1.jpg"]},
    {"title": "spare.jpg", "data_type": "IMAGE"},
]
COCO = {
    "images": [{"id": 7, "width": 640, "height": 480}, {"id": 8, "width": 640, "height": 480}],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "road"}],
    "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [64, 48, 128, 96], "area": 1, "iscrowd": 0, "score": 0.5},
        {"id": 2, "image_id": 8, "category_id": 2, "bbox": [0, 0, 1, 1], "area": 1, "iscrowd": 0,
         "segmentation": [[64, 48, 192, 48, 192, 144], [320, 240, 400, 240, 360, 300]]},
        {"id": 3, "image_id": 9, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1, "iscrowd": 0},
    ],
}  # fmt: skip
VOLATILE = ("objectHash", "createdAt", "lastEditedAt", "featureHash")  # the two projects have two ontologies


@pytest.fixture(scope="module")
def coco(gateway: GatewayProcess) -> Iterator[exports_pb2_grpc.LabelExportServiceStub]:
    with gateway.channel() as channel:
        yield exports_pb2_grpc.LabelExportServiceStub(channel)


@pytest.fixture
def sdk(gateway: GatewayProcess, sandbox: Sandbox) -> EncordUserClient:
    """The SDK signing as the gateway's organisation, so that both see the same projects."""
    return EncordUserClient.create_with_ssh_private_key(gateway.user.openssh, domain=sandbox.url)


def ontology() -> OntologyStructure:
    structure = OntologyStructure()
    car = structure.add_object("Car", Shape.BOUNDING_BOX)
    colour = car.add_attribute(RadioAttribute, "Colour")
    colour.add_option("Red")
    flags = car.add_attribute(ChecklistAttribute, "Flags", dynamic=True)
    flags.add_option("Parked")
    structure.add_object("Road", Shape.POLYGON)
    structure.add_object("Pole", Shape.POINT)
    return structure


@pytest.fixture
def project(sdk: EncordUserClient, sandbox: Sandbox, make_title: Callable[[str], str]) -> Project:
    """Image, video and image group labelled with the SDK (a box, a polygon); one image left unlabelled."""
    title = make_title("coco")
    dataset = sdk.create_dataset(title, StorageLocation.CORD_STORAGE).dataset_hash
    sandbox.seed_data_units(dataset, UNITS)
    structure = sdk.create_ontology(title, structure=ontology()).ontology_hash
    made = sdk.get_project(sdk.create_project(title, [dataset], ontology_hash=structure))
    for row in made.list_label_rows_v2()[:3]:
        row.initialise_labels()
        car = row.ontology_structure.get_child_by_title("Car", type_=Object).create_instance()
        car.set_for_frames(BoundingBoxCoordinates(height=0.25, width=0.5, top_left_x=0.125, top_left_y=0.375), frames=0)
        row.add_object_instance(car)
        road = row.ontology_structure.get_child_by_title("Road", type_=Object).create_instance()
        points = [PointCoordinate(0.1, 0.1), PointCoordinate(0.53, 0.17), PointCoordinate(0.37, 0.61)]
        road.set_for_frames(PolygonCoordinates(points), frames=0)
        row.add_object_instance(road)
        row.save()
    return made


def as_dict(message: Any) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_the_gateways_export_is_the_sdks_document_and_makes_the_missing_rows_as_the_sdk_does(
    gateway: GatewayProcess, coco: exports_pb2_grpc.LabelExportServiceStub, project: Project, sandbox: Sandbox
) -> None:
    sandbox.clear_requests_log()
    exported = coco.ExportCocoLabels(
        exports_pb2.ExportCocoLabelsRequest(project_hash=project.project_hash), metadata=gateway.auth_metadata
    )
    created = [r for r in sandbox.requests_log() if (r["query_type"], r["query_method"]) == ("labelrow", "PUT")]

    reference = project.export_coco_labels()  # the unlabelled image now has its row: the same document

    assert as_dict(exported.coco_labels) == reference
    assert len(created) == 1  # the unlabelled image's row, made once
    assert len(reference["images"]) == 5 and len(reference["annotations"]) == 6


def test_the_streamed_parts_assemble_into_the_unary_document(
    gateway: GatewayProcess, coco: exports_pb2_grpc.LabelExportServiceStub, project: Project
) -> None:
    request = exports_pb2.ExportCocoLabelsRequest(project_hash=project.project_hash)

    parts = [as_dict(part) for part in coco.StreamCocoLabels(request, metadata=gateway.auth_metadata)]
    whole = as_dict(coco.ExportCocoLabels(request, metadata=gateway.auth_metadata).coco_labels)

    assembled = {"info": parts[0]["info"], "categories": parts[0]["categories"], "images": [], "annotations": []}
    for part in parts[1:]:
        assembled["images"] += part.get("images", [])
        assembled["annotations"] += part.get("annotations", [])
    assert set(parts[0]) == {"info", "categories"}
    assert assembled == whole


def objects_of(project: Project) -> dict[str, list[dict[str, Any]]]:
    """Every object of every row, by data title, without what is made afresh per import."""
    rows = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in rows:
            row.initialise_labels(bundle=bundle)
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for unit in row.to_encord_dict()["data_units"].values():
            labels = unit["labels"]
            frames = [labels] if "objects" in labels else list(labels.values())
            objects = [o for frame in frames for o in frame.get("objects", [])]
            found.setdefault(row.data_title, []).extend(
                {k: v for k, v in o.items() if k not in VOLATILE} for o in objects
            )
    return found


def test_an_import_through_the_gateway_saves_what_the_sdks_import_saves(
    gateway: GatewayProcess,
    coco: exports_pb2_grpc.LabelExportServiceStub,
    sdk: EncordUserClient,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
) -> None:
    def fresh() -> tuple[Project, list[str], dict[int, str]]:
        title = make_title("coco-import")
        dataset = sdk.create_dataset(title, StorageLocation.CORD_STORAGE).dataset_hash
        units = [u["data_hash"] for u in sandbox.seed_data_units(dataset, UNITS[:2])]
        structure = sdk.create_ontology(title, structure=ontology())
        made = sdk.get_project(sdk.create_project(title, [dataset], ontology_hash=structure.ontology_hash))
        features = {1: made.ontology_structure.objects[0].feature_node_hash}
        features[2] = made.ontology_structure.objects[1].feature_node_hash
        return made, units, features

    by_sdk, sdk_units, sdk_features = fresh()
    by_sdk.import_coco_labels(
        copy.deepcopy(COCO), sdk_features, {7: FrameIndex(sdk_units[0]), 8: FrameIndex(sdk_units[1], 2)},
        confidence_field_name="score",
    )  # fmt: skip
    by_gateway, units, features = fresh()
    document = struct_pb2.Struct()
    document.update(COCO)
    coco.ImportCocoLabels(
        exports_pb2.ImportCocoLabelsRequest(
            project_hash=by_gateway.project_hash, coco=document, category_feature_hashes=features,
            image_frames=[exports_pb2.CocoImageFrame(image_id=7, data_hash=units[0]),
                          exports_pb2.CocoImageFrame(image_id=8, data_hash=units[1], frame=2)],
            confidence_field_name="score",
        ),
        metadata=gateway.auth_metadata,
    )  # fmt: skip

    imported = objects_of(by_gateway)
    assert imported == objects_of(by_sdk)
    assert [o["confidence"] for o in imported["street.jpg"]] == [0.5]
    assert len(imported["drive.mp4"][0]["polygons"]) == 2  # both parts of the road


def test_a_malformed_coco_document_is_refused_before_any_call(
    gateway: GatewayProcess,
    gateway_kit: GatewayKit,
    coco: exports_pb2_grpc.LabelExportServiceStub,
    project: Project,
    sandbox: Sandbox,
) -> None:
    broken = copy.deepcopy(COCO)
    broken["annotations"][0]["bbox"] = [1, 2]
    document = struct_pb2.Struct()
    document.update(broken)
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as refused:
        coco.ImportCocoLabels(
            exports_pb2.ImportCocoLabelsRequest(
                project_hash=project.project_hash, coco=document,
                image_frames=[exports_pb2.CocoImageFrame(image_id=7, data_hash=project.list_label_rows_v2()[0].data_hash)],
            ),
            metadata=gateway.auth_metadata,
        )  # fmt: skip

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "coco.annotations[0].bbox" in str(refused.value.details())
    assert [r for r in sandbox.requests_log() if r["method"] == "POST" and r.get("query_type") == "labelrow"] == []


def test_a_read_only_caller_cannot_export_since_an_export_creates_rows(
    gateway: GatewayProcess,
    gateway_kit: GatewayKit,
    coco: exports_pb2_grpc.LabelExportServiceStub,
    project: Project,
    sandbox: Sandbox,
) -> None:
    name = f"reader-{uuid.uuid4().hex[:8]}"
    read_only = {"grants": [{"organisation": gateway.organisation, "resources": ["*"], "rights": ["read"]}]}
    gateway_kit.create_caller(gateway.data_dir, name, read_only)
    token, _ = gateway_kit.issue_token(gateway.data_dir, name)
    request = exports_pb2.ExportCocoLabelsRequest(project_hash=project.project_hash)
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as refused:
        coco.ExportCocoLabels(request, metadata=(("authorization", f"Bearer {token}"),))
    with pytest.raises(grpc.RpcError) as refused_stream:
        list(coco.StreamCocoLabels(request, metadata=(("authorization", f"Bearer {token}"),)))

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused_stream.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert sandbox.requests_log() == []
