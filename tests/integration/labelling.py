"""Test helpers for labels and workflow through a gateway: stubs, a labelled project, label documents."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from encord_gateway._generated.encord.gateway.v1 import (
    analytics_pb2_grpc,
    datasets_pb2,
    labels_pb2,
    labels_pb2_grpc,
    ontologies_pb2,
    projects_pb2,
    workflow_pb2_grpc,
)
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayProcess, Sandbox, Stubs

CAR_FEATURE = "ca7ca7ca"
WEATHER_FEATURE = "3ea7e5a1"
STRUCTURE = {
    "objects": [{"id": "1", "name": "Car", "color": "#D33115", "shape": "bounding_box", "featureNodeHash": CAR_FEATURE}],
    "classifications": [
        {
            "id": "2",
            "featureNodeHash": WEATHER_FEATURE,
            "attributes": [
                {"id": "2.1", "name": "Weather", "type": "radio", "required": False, "featureNodeHash": "a77a77a7",
                 "options": [{"id": "2.1.1", "label": "Sunny", "value": "sunny", "featureNodeHash": "50505050"}]}
            ],
        }
    ],
}  # fmt: skip
IMAGES = [{"title": f"frame-{n}.jpg", "data_type": "IMAGE"} for n in range(3)]


@dataclass
class LabelStubs:
    labels: labels_pb2_grpc.LabelServiceStub
    workflow: workflow_pb2_grpc.WorkflowServiceStub
    analytics: analytics_pb2_grpc.AnalyticsServiceStub


def label_stubs(channel: grpc.Channel) -> LabelStubs:
    return LabelStubs(
        labels_pb2_grpc.LabelServiceStub(channel),
        workflow_pb2_grpc.WorkflowServiceStub(channel),
        analytics_pb2_grpc.AnalyticsServiceStub(channel),
    )


@dataclass
class Labelled:
    """A project made through the gateway on one dataset of seeded data units (their data hashes in `units`)."""

    project: str
    dataset: str
    ontology: str
    units: list[str]


def labelled_project(
    gateway: GatewayProcess,
    stubs: Stubs,
    sandbox: Sandbox,
    title: str,
    units: list[dict[str, Any]] | None = None,
    *,
    template: list[dict[str, Any]] | None = None,
    benchmark: bool = False,
) -> Labelled:
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=title), metadata=md).dataset_hash
    seeded = sandbox.seed_data_units(dataset, units if units is not None else IMAGES)
    ontology = stubs.ontologies.CreateOntology(
        ontologies_pb2.CreateOntologyRequest(title=title, structure=struct(STRUCTURE)), metadata=md
    ).ontology_hash
    request = projects_pb2.CreateProjectRequest(title=title, dataset_hashes=[dataset], ontology_hash=ontology)
    if template is not None:
        request.workflow_template_id = sandbox.create_workflow_template(title, template)
    if benchmark:
        source = stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title=f"{title} source"), metadata=md)
        request.workflow_type = projects_pb2.QA_WORKFLOW_TYPE_BENCHMARK
        request.source_projects.append(source.project_hash)
    project = stubs.projects.CreateProject(request, metadata=md).project_hash
    return Labelled(project, dataset, ontology, [row["data_hash"] for row in seeded])


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def as_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def create_rows(gateway: GatewayProcess, labels: LabelStubs, made: Labelled, units: list[str]) -> list[dict[str, Any]]:
    """Label rows for these data units (L-05), as documents."""
    created = labels.labels.CreateLabelRows(
        labels_pb2.CreateLabelRowsRequest(project_hash=made.project, data_hashes=units), metadata=gateway.auth_metadata
    )
    return [as_dict(document) for document in created.label_rows]


def box(object_hash: str, feature: str = CAR_FEATURE) -> dict[str, Any]:
    return {
        "name": "Car", "color": "#D33115", "shape": "bounding_box", "value": "car", "objectHash": object_hash,
        "featureHash": feature, "manualAnnotation": True, "confidence": 1.0, "createdBy": "a@b.c",
        "createdAt": "Tue, 02 Jan 2024 00:00:00 UTC", "boundingBox": {"h": 0.1, "w": 0.2, "x": 0.3, "y": 0.4},
    }  # fmt: skip


def with_box(document: dict[str, Any], object_hash: str | None = None, feature: str = CAR_FEATURE) -> dict[str, Any]:
    """The document of an image's row with one more box (and its entry in object_answers)."""
    object_hash = object_hash or uuid.uuid4().hex[:8]
    (unit,) = document["data_units"].values()
    unit["labels"]["objects"].append(box(object_hash, feature))
    document["object_answers"][object_hash] = {"objectHash": object_hash, "classifications": []}
    return document


def with_weather(document: dict[str, Any], classification_hash: str = "c1a55c1a") -> dict[str, Any]:
    document["classification_answers"][classification_hash] = {
        "classificationHash": classification_hash, "featureHash": WEATHER_FEATURE, "range": [[0, 0]],
        "classifications": [{"name": "Weather", "value": "weather", "featureHash": "a77a77a7", "manualAnnotation": True,
                             "answers": [{"name": "Sunny", "value": "sunny", "featureHash": "50505050"}]}],
    }  # fmt: skip
    return document


def save(
    gateway: GatewayProcess, labels: LabelStubs, made: Labelled, documents: list[dict[str, Any]], **flags: Any
) -> None:
    labels.labels.SaveLabelRows(
        labels_pb2.SaveLabelRowsRequest(
            project_hash=made.project,
            label_hashes=[d["label_hash"] for d in documents],
            labels=[struct(d) for d in documents],
            **flags,
        ),
        metadata=gateway.auth_metadata,
    )


def x_cache(call: Any) -> str | None:
    return dict(call.initial_metadata() or ()).get("x-cache")


def upstream_calls(sandbox: Sandbox, gateway: GatewayProcess) -> list[dict[str, Any]]:
    """What this gateway's organisation sent to the sandbox since the log was last cleared."""
    return [entry for entry in sandbox.requests_log() if entry["user"] == gateway.user.email]


def project_calls(sandbox: Sandbox, project: str) -> list[dict[str, Any]]:
    """What reached the sandbox for one project since the log was last cleared, refused by a fault or not."""
    return [entry for entry in sandbox.requests_log() if entry["resource_id"] == project]


def described(entries: list[dict[str, Any]]) -> list[str]:
    """Upstream calls as `v1 labelrow GET` / `v2 POST`, in order."""
    return [f"v1 {e['query_type']} {e['query_method']}" if e["api"] == "v1" else f"v2 {e['method']}" for e in entries]
