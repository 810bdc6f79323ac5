"""Wire-equality cases for COCO export and import (P-26, P-27): the SDK's get_project().export_coco_labels() and
import_coco_labels() against the gateway's ExportCocoLabels, StreamCocoLabels and ImportCocoLabels.

Every row is labelled in setup: the SDK's export would otherwise create the missing rows (L-05) and the gateway,
running second, would find them made. Imports add objects with random hashes and the time of the save, so
those are masked (and `object_answers`, keyed by the hashes, as a whole); `restore` saves the documents
back as they were, so that both sides import into the same rows.
"""

from __future__ import annotations

import copy
from typing import Any

from cases_labels import project_with_rows, struct
from encord.utilities.coco.datastructure import FrameIndex
from encord_gateway._generated.encord.gateway.v1 import exports_pb2
from wire_harness import Given, WireCase, WireSides

COCO = {
    "images": [{"id": 7, "width": 640, "height": 480}, {"id": 8, "width": 640, "height": 480}],
    "categories": [{"id": 1, "name": "car"}],
    "annotations": [
        {"id": 1, "image_id": 7, "category_id": 1, "bbox": [64, 48, 128, 96], "area": 1, "iscrowd": 0, "score": 0.5},
        {"id": 2, "image_id": 8, "category_id": 1, "bbox": [32, 24, 64, 48], "area": 1, "iscrowd": 0},
    ],
}
OBJECTS = "values.payload.labels.*.data_units.*.labels"
IMPORT_MASKS = (
    f"{OBJECTS}.objects.*.objectHash", f"{OBJECTS}.objects.*.createdAt", f"{OBJECTS}.objects.*.lastEditedAt",
    f"{OBJECTS}.*.objects.*.objectHash", f"{OBJECTS}.*.objects.*.createdAt", f"{OBJECTS}.*.objects.*.lastEditedAt",
    "values.payload.labels.*.object_answers", "values.payload.labels.*.last_edited_at",
)  # fmt: skip


def labelled(sides: WireSides) -> Given:
    given = project_with_rows(sides)
    given["project"] = sides.sdk.get_project(given["project"].project_hash)
    return given


def with_saved_documents(sides: WireSides) -> Given:
    given = labelled(sides)
    given["documents"] = [row.to_encord_dict() for row in given["rows"][:2]]
    return given


def restore_documents(sides: WireSides, given: Given) -> None:
    given["project"]._client.save_label_rows(
        uids=[d["label_hash"] for d in given["documents"]], payload=given["documents"], validate_before_saving=False
    )


def ph(given: Given) -> str:
    return str(given["project"].project_hash)


def sdk_import(sides: WireSides, given: Given) -> None:
    project = sides.sdk.get_project(ph(given))
    project.import_coco_labels(
        copy.deepcopy(COCO), {1: given["car"]}, {7: FrameIndex(given["data"][0]), 8: FrameIndex(given["data"][1], 2)},
        confidence_field_name="score",
    )  # fmt: skip


def import_request(given: Given) -> Any:
    return exports_pb2.ImportCocoLabelsRequest(
        project_hash=ph(given),
        coco=struct(COCO),
        category_feature_hashes={1: given["car"]},
        image_frames=[
            exports_pb2.CocoImageFrame(image_id=7, data_hash=given["data"][0]),
            exports_pb2.CocoImageFrame(image_id=8, data_hash=given["data"][1], frame=2),
        ],
        confidence_field_name="score",
    )


CASES = [
    WireCase(
        name="ExportCocoLabels as get_project().export_coco_labels()",
        rpc="LabelExportService.ExportCocoLabels",
        proves=("P-26",),
        setup=labelled,
        sdk=lambda sides, given: sides.sdk.get_project(ph(given)).export_coco_labels(),
        request=lambda given: exports_pb2.ExportCocoLabelsRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="ExportCocoLabels of given label hashes on a branch",
        rpc="LabelExportService.ExportCocoLabels",
        proves=("P-26",),
        setup=labelled,
        sdk=lambda sides, given: sides.sdk.get_project(ph(given)).export_coco_labels(
            label_hashes=[str(given["rows"][0].label_hash)], branch_name="main"
        ),
        request=lambda given: exports_pb2.ExportCocoLabelsRequest(
            project_hash=ph(given), label_hashes=[str(given["rows"][0].label_hash)], branch_name="main"
        ),
    ),
    WireCase(
        name="StreamCocoLabels as get_project().export_coco_labels()",
        rpc="LabelExportService.StreamCocoLabels",
        proves=("P-26",),
        setup=labelled,
        sdk=lambda sides, given: sides.sdk.get_project(ph(given)).export_coco_labels(),
        request=lambda given: exports_pb2.ExportCocoLabelsRequest(project_hash=ph(given)),
    ),
    WireCase(
        name="ImportCocoLabels as get_project().import_coco_labels()",
        rpc="LabelExportService.ImportCocoLabels",
        proves=("P-27",),
        setup=with_saved_documents,
        sdk=sdk_import,
        restore=restore_documents,
        request=import_request,
        masks=(*IMPORT_MASKS, "values.payload.data_hashes"),
        free_form=True,
    ),
]
