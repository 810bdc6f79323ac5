"""The official Encord SDK (0.1.211) exporting labels as COCO from the sandbox and importing them into another project."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from encord import EncordUserClient
from encord.objects import Object, OntologyStructure, Shape
from encord.objects.coordinates import BoundingBoxCoordinates, PointCoordinate, PolygonCoordinates
from encord.orm.dataset import StorageLocation
from encord.project import Project
from encord.utilities.coco.datastructure import FrameIndex

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

UNITS = [{"title": "street.jpg", "data_type": "IMAGE"}, {"title": "drive.mp4", "data_type": "VIDEO", "frames": 4}]
BOX = BoundingBoxCoordinates(height=0.25, width=0.5, top_left_x=0.125, top_left_y=0.375)
ROAD = PolygonCoordinates([PointCoordinate(0.1, 0.1), PointCoordinate(0.5, 0.1), PointCoordinate(0.3, 0.6)])


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


def new_project(client: EncordUserClient, sandbox: Sandbox, ontology_hash: str) -> tuple[Project, list[str]]:
    dataset = client.create_dataset("coco data", StorageLocation.CORD_STORAGE).dataset_hash
    units = [unit["data_hash"] for unit in sandbox.seed_data_units(dataset, UNITS)]
    return client.get_project(client.create_project("coco", [dataset], ontology_hash=ontology_hash)), units


def geometry(project: Project) -> dict[str, list[tuple[str, int, str]]]:
    """Each row's objects as (name, frame, coordinates), read back."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    for row in project.list_label_rows_v2():
        row.initialise_labels()
        found[row.data_title] = sorted(
            (instance.ontology_item.name, annotation.frame, str(annotation.coordinates.to_dict()))
            for instance in row.get_object_instances()
            for annotation in instance.get_annotations()
        )
    return found


def test_labels_exported_as_coco_import_into_another_project_and_read_back_equal(
    client: EncordUserClient, sandbox: Sandbox
) -> None:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    structure.add_object("Road", Shape.POLYGON)
    ontology = client.create_ontology("coco objects", structure=structure).ontology_hash
    source, source_units = new_project(client, sandbox, ontology)
    for row, frame in zip(source.list_label_rows_v2(), (0, 2), strict=True):
        row.initialise_labels()
        for title, coordinates in (("Car", BOX), ("Road", ROAD)):
            instance = row.ontology_structure.get_child_by_title(title, type_=Object).create_instance()
            instance.set_for_frames(coordinates, frames=frame)
            row.add_object_instance(instance)
        row.save()

    exported = source.export_coco_labels()
    target, target_units = new_project(client, sandbox, ontology)
    features = {c["id"]: target.ontology_structure.get_child_by_title(c["name"]).feature_node_hash
                for c in exported["categories"]}  # fmt: skip
    where = {source_units[0]: FrameIndex(target_units[0]), source_units[1]: FrameIndex(target_units[1], 2)}
    frames = {
        image["id"]: where[source_units[0]] if "image_title" in image else where[source_units[1]]
        for image in exported["images"]
    }
    target.import_coco_labels(exported, features, frames)

    assert [c["name"] for c in exported["categories"]] == ["Car", "Road"]
    assert len(exported["annotations"]) == 4
    assert geometry(target) == geometry(source)
