"""Wire-equality cases for models and labelling algorithms: ML models (the SDK's `ml_models` client), the legacy v1
model API and box fitting (the SDK's own v1 transport with the documented payloads), and interpolation.

Known differences, left out until the gateway matches the SDK (each would fail here):
- InferLegacyModel on files without data hashes: the old SDK sent `"data_hashes": null`, the gateway `[]` (a
  repeated field inside the params message is always sent). The old SDK sent `[]` too when given an empty list.
- Maps (features mappings) reach Encord with their keys sorted; the SDK keeps the caller's order.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

from encord.objects import OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.objects.ml_models import ModelArchitecture, ModelIterationPolicy, ModelsListOrderBy
from encord_gateway._generated.encord.gateway.v1 import models_pb2
from google.protobuf import struct_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

PHOTO = Path(__file__)
"""A file whose bytes both sides upload for predictions and inference (any bytes do)."""
WEIGHTS = {
    "model": "faster_rcnn",
    "training_config_link": "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml",
    "training_weights_link": "https://example.test/detectron2/faster_rcnn_R_50_FPN_1x.pkl",
}


def street_ontology() -> OntologyStructure:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    structure.add_object("Person", Shape.BOUNDING_BOX)
    structure.add_object("Road", Shape.POLYGON)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


def seed_data_units(sides: WireSides, dataset_hash: str, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data units added through the sandbox's control API (behind the recorder, so unrecorded)."""
    request = urllib.request.Request(
        f"{sides.recorder.forward_to}/sandbox/v1/datasets/{dataset_hash}/data-units",
        data=json.dumps({"data_units": units}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        rows: list[dict[str, Any]] = json.loads(response.read())["data_rows"]
    return rows


def street(sides: WireSides) -> Given:
    """A project with a video and an image, and the feature hashes of its ontology."""
    dataset = sides.new_dataset(sides.unique("dataset"))
    clip, image = seed_data_units(
        sides, dataset, [{"title": "clip.mp4", "data_type": "VIDEO", "frames": 3}, {"title": "a.jpg"}]
    )
    ontology = sides.sdk.create_ontology(sides.unique("ontology"), "", street_ontology())
    project = str(sides.sdk.create_project(sides.unique("project"), [dataset], ontology_hash=ontology.ontology_hash))
    features = {title: ontology.structure.get_child_by_title(title).feature_node_hash for title in ("Car", "Person", "Road", "Sunny", "Rainy")}  # fmt: skip
    return {"project": project, "clip": clip["data_hash"], "image": image["data_hash"], **features}


def legacy_call(sides: WireSides, given: Given, query_type: str, method: str, **values: Any) -> Any:
    return legacy_v1_call(sides.sdk, query_type, method, resource=("project", given["project"]), **values)


def with_legacy_model(sides: WireSides) -> Given:
    given = street(sides)
    params = {"title": "Cars", "description": "", "features": [given["Car"]], "model": "faster_rcnn"}
    given["model"] = legacy_call(
        sides, given, "model", "PUT", payload={"model_operation": 2, "model_parameters": params}
    )
    return given


def with_legacy_iteration(sides: WireSides) -> Given:
    given = with_legacy_model(sides)
    params = {"label_rows": [given["clip"]], "epochs": 2, "batch_size": 24, "weights": WEIGHTS, "device": "cuda"}
    trained = legacy_call(
        sides, given, "model", "POST", uid=given["model"], payload={"model_operation": 1, "model_parameters": params}
    )
    given["iteration"] = trained["model_iteration_uid"]
    return given


def inference_params(**overrides: Any) -> dict[str, Any]:
    """The old SDK's model_inference payload with its defaults, in its key order."""
    return {
        "files": [], "conf_thresh": 0.6, "iou_thresh": 0.3, "device": "cuda", "detection_frame_range": [],
        "allocation_enabled": False, "data_hashes": [], "rdp_thresh": 0.005, **overrides,
    }  # fmt: skip


def add_ml_model(sides: WireSides, given: Given) -> UUID:
    return sides.sdk.ml_models.create_model(
        features=["car", "person"], model=ModelArchitecture.FASTER_RCNN, title=sides.unique("model"), description="v1"
    ).model_group.model_uuid


def add_training(sides: WireSides, given: Given, model: UUID) -> UUID:
    return sides.sdk.ml_models.create_training_job(
        model_uuid=model,
        batch_size=8,
        epochs=2,
        features_mapping={UUID(given["project"]): {given["Car"]: ["car"]}},
        labels_uuids=[UUID(given["clip"])],
        pretrained_training_uuid=None,
        pretrained_weights_type=None,
    )


def add_iteration(sides: WireSides, given: Given, model: UUID) -> UUID:
    training = add_training(sides, given, model)
    sides.sdk.ml_models.get_training_status(model_uuid=model, training_uuid=training)
    return training


def with_ml_model(sides: WireSides) -> Given:
    given = street(sides)
    given["model"] = add_ml_model(sides, given)
    return given


def with_training(sides: WireSides) -> Given:
    given = with_ml_model(sides)
    given["training"] = add_training(sides, given, given["model"])
    return given


def with_iteration(sides: WireSides) -> Given:
    given = with_ml_model(sides)
    given["training"] = add_iteration(sides, given, given["model"])
    return given


def with_two_iterations(sides: WireSides) -> Given:
    """Two trained models of one project: each side attaches its own (a model is attached to a project once)."""
    given = with_iteration(sides)
    given["model2"] = add_ml_model(sides, given)
    given["training2"] = add_iteration(sides, given, given["model2"])
    return given


def with_attachment(sides: WireSides) -> Given:
    given = with_iteration(sides)
    attached = sides.sdk.ml_models.create_model_attachment(
        project_uuid=UUID(given["project"]),
        features_mapping={"car": given["Car"]},
        iteration_policy=ModelIterationPolicy.USE_LATEST,
        model_uuid=given["model"],
        training_uuids=None,
    )
    given["attachment"] = attached.project_model.project_model_uuid
    return given


def with_classifier(sides: WireSides) -> Given:
    """A trained weather classifier attached to the project."""
    given = street(sides)
    ml = sides.sdk.ml_models
    model = ml.create_model(features=["sun"], model=ModelArchitecture.RESNET_18, title="Weather", description=None)
    given["model"] = model.model_group.model_uuid
    given["training"] = ml.create_training_job(
        model_uuid=given["model"],
        batch_size=1,
        epochs=1,
        features_mapping={UUID(given["project"]): {given["Sunny"]: ["sun"]}},
        labels_uuids=[UUID(given["image"])],
        pretrained_training_uuid=None,
        pretrained_weights_type=None,
    )
    ml.get_training_status(model_uuid=given["model"], training_uuid=given["training"])
    given["attachment"] = ml.create_model_attachment(
        project_uuid=UUID(given["project"]),
        features_mapping={"sun": given["Sunny"]},
        iteration_policy=ModelIterationPolicy.USE_ALL,
        model_uuid=given["model"],
        training_uuids=None,
    ).project_model.project_model_uuid
    return given


def frames(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def key_frames(given: Given) -> dict[str, Any]:
    def car(x: float) -> dict[str, Any]:
        return {
            "objectHash": "car-1",
            "featureHash": given["Car"],
            "boundingBox": {"x": x, "y": 0.2, "w": 0.1, "h": 0.1},
        }

    return {"0": {"objects": [car(0.1)]}, "4": {"objects": [car(0.5)]}}


def polygon_labels(given: Given) -> dict[str, Any]:
    road = {"0": {"x": 0.1, "y": 0.5}, "1": {"x": 0.9, "y": 0.5}, "2": {"x": 0.5, "y": 0.95}}
    return {"7": {"objects": [{"objectHash": "road-1", "featureHash": given["Road"], "polygon": road}]}}


def training_mapping(given: Given) -> dict[str, struct_pb2.Struct]:
    return {given["project"]: frames({given["Car"]: ["car"]})}


# ---- labelling algorithms -------------------------------------------------------------------------

ALGORITHM_CASES = [
    WireCase(
        name="InterpolateObjects as Project.object_interpolation",
        rpc="LabelingAlgorithmService.InterpolateObjects",
        proves=("P-14",),
        setup=lambda sides: {**(given := street(sides)), "opened": sides.sdk.get_project(given["project"])},
        sdk=lambda sides, given: given["opened"].object_interpolation(key_frames(given), ["car-1"]),
        request=lambda given: models_pb2.InterpolateObjectsRequest(
            project_hash=given["project"], key_frames=frames(key_frames(given)), objects_to_interpolate=["car-1"]
        ),
        masks=("values.uid",),
        free_form=True,
    ),
    WireCase(
        name="FitBoundingBoxes as the legacy fitted_bounding_boxes",
        rpc="LabelingAlgorithmService.FitBoundingBoxes",
        proves=("P-15",),
        setup=street,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "labelingalgorithm",
            "POST",
            uid=str(uuid.uuid4()),
            payload={
                "algorithm_name": "fitted_bounding_box",
                "algorithm_parameters": {"labels": polygon_labels(given), "video": {"width": 1280, "height": 720}},
            },
        ),
        request=lambda given: models_pb2.FitBoundingBoxesRequest(
            project_hash=given["project"],
            labels=frames(polygon_labels(given)),
            video=models_pb2.VideoSize(width=1280, height=720),
        ),
        masks=("values.uid",),
        free_form=True,
    ),
]


# ---- legacy models --------------------------------------------------------------------------------

LEGACY_CASES = [
    WireCase(
        name="ListLegacyModels as the legacy list_models",
        rpc="ModelService.ListLegacyModels",
        proves=("M-01",),
        setup=with_legacy_model,
        sdk=lambda sides, given: legacy_call(sides, given, "modelconfiguration", "GET"),
        request=lambda given: models_pb2.ListLegacyModelsRequest(project_hash=given["project"]),
    ),
    WireCase(
        name="GetLegacyTrainingMetadata as the legacy get_training_metadata",
        rpc="ModelService.GetLegacyTrainingMetadata",
        proves=("M-02",),
        setup=with_legacy_iteration,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "trainingmetadata",
            "GET",
            payload={
                "model_iteration_uids": [given["iteration"]],
                "get_created_at": True,
                "get_training_final_loss": False,
                "get_model_training_labels": True,
            },
        ),
        request=lambda given: models_pb2.GetLegacyTrainingMetadataRequest(
            project_hash=given["project"],
            model_iteration_uids=[given["iteration"]],
            get_created_at=True,
            get_model_training_labels=True,
        ),
    ),
    WireCase(
        name="CreateLegacyModel as the legacy create_model_row",
        rpc="ModelService.CreateLegacyModel",
        proves=("M-03",),
        setup=street,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "model",
            "PUT",
            payload={
                "model_operation": 2,
                "model_parameters": {
                    "title": "People",
                    "description": "pedestrians",
                    "features": [given["Person"], given["Car"]],
                    "model": "faster_rcnn",
                },
            },
        ),
        request=lambda given: models_pb2.CreateLegacyModelRequest(
            project_hash=given["project"],
            model_parameters=models_pb2.LegacyModelRow(
                title="People",
                description="pedestrians",
                features=[given["Person"], given["Car"]],
                model=models_pb2.LEGACY_AUTOMATION_MODEL_FASTER_RCNN,
            ),
        ),
    ),
    WireCase(
        name="DeleteLegacyModel as the legacy model_delete",
        rpc="ModelService.DeleteLegacyModel",
        proves=("M-04",),
        setup=with_legacy_model,
        sdk=lambda sides, given: legacy_call(sides, given, "model", "DELETE", uid=given["model"]),
        request=lambda given: models_pb2.DeleteLegacyModelRequest(
            project_hash=given["project"], model_hash=given["model"]
        ),
        gateway_fails="NOT_FOUND",
    ),
    WireCase(
        name="InferLegacyModel on a file as the legacy model_inference",
        rpc="ModelService.InferLegacyModel",
        proves=("M-05",),
        setup=with_legacy_iteration,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "model",
            "POST",
            uid=given["iteration"],
            payload={
                "model_operation": 0,
                "model_parameters": inference_params(
                    files=[{"uid": "photo.jpg", "base64_str": base64.b64encode(PHOTO.read_bytes()).decode()}],
                    device="cpu",
                    detection_frame_range=[0, 0],
                ),
            },
        ),
        request=lambda given: models_pb2.InferLegacyModelRequest(
            project_hash=given["project"],
            model_iteration_hash=given["iteration"],
            model_parameters=models_pb2.LegacyInferenceParams(
                files=[models_pb2.LegacyInferenceFile(uid="photo.jpg", base64_str=PHOTO.read_bytes())],
                conf_thresh=0.6,
                iou_thresh=0.3,
                device=models_pb2.LEGACY_DEVICE_CPU,
                detection_frame_range=[0, 0],
                rdp_thresh=0.005,
            ),
        ),
    ),
    WireCase(
        name="InferLegacyModel on data units of the project",
        rpc="ModelService.InferLegacyModel",
        proves=("M-05",),
        setup=with_legacy_iteration,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "model",
            "POST",
            uid=given["iteration"],
            payload={
                "model_operation": 0,
                "model_parameters": inference_params(data_hashes=[given["clip"]], allocation_enabled=True),
            },
        ),
        request=lambda given: models_pb2.InferLegacyModelRequest(
            project_hash=given["project"],
            model_iteration_hash=given["iteration"],
            model_parameters=models_pb2.LegacyInferenceParams(
                conf_thresh=0.6,
                iou_thresh=0.3,
                device=models_pb2.LEGACY_DEVICE_CUDA,
                allocation_enabled=True,
                data_hashes=[given["clip"]],
                rdp_thresh=0.005,
            ),
        ),
    ),
    WireCase(
        name="TrainLegacyModel as the legacy model_train",
        rpc="ModelService.TrainLegacyModel",
        proves=("M-06",),
        setup=with_legacy_model,
        sdk=lambda sides, given: legacy_call(
            sides,
            given,
            "model",
            "POST",
            uid=given["model"],
            payload={
                "model_operation": 1,
                "model_parameters": {
                    "label_rows": [given["clip"], given["image"]],
                    "epochs": 5,
                    "batch_size": 24,
                    "weights": WEIGHTS,
                    "device": "cuda",
                },
            },
        ),
        request=lambda given: models_pb2.TrainLegacyModelRequest(
            project_hash=given["project"],
            model_hash=given["model"],
            model_parameters=models_pb2.LegacyTrainingParams(
                label_rows=[given["clip"], given["image"]],
                epochs=5,
                batch_size=24,
                weights=models_pb2.LegacyTrainingWeights(
                    model=models_pb2.LEGACY_AUTOMATION_MODEL_FASTER_RCNN,
                    training_config_link=WEIGHTS["training_config_link"],
                    training_weights_link=WEIGHTS["training_weights_link"],
                ),
                device=models_pb2.LEGACY_DEVICE_CUDA,
            ),
        ),
    ),
]


# ---- ML models ------------------------------------------------------------------------------------


def model_request(given: Given, message: Any, **fields: Any) -> Any:
    return message(model_uuid=str(given["model"]), **fields)


ML_MODEL_CASES = [
    WireCase(
        name="CreateMlModel as ml_models.create_model",
        rpc="MlModelService.CreateMlModel",
        proves=("M-10",),
        setup=lambda sides: {"title": sides.unique("model")},
        sdk=lambda sides, given: sides.sdk.ml_models.create_model(
            features=["car", "person"], model=ModelArchitecture.MASK_RCNN, title=given["title"], description=None
        ),
        request=lambda given: models_pb2.CreateMlModelRequest(
            features=["car", "person"], model=models_pb2.ML_MODEL_ARCHITECTURE_MASK_RCNN, title=given["title"]
        ),
    ),
    WireCase(
        name="GetMlModel as ml_models.get_model",
        rpc="MlModelService.GetMlModel",
        proves=("M-11",),
        setup=with_iteration,
        sdk=lambda sides, given: sides.sdk.ml_models.get_model(model_uuid=given["model"]),
        request=lambda given: model_request(given, models_pb2.GetMlModelRequest),
    ),
    WireCase(
        name="UpdateMlModel as ml_models.update_model with both fields",
        rpc="MlModelService.UpdateMlModel",
        proves=("M-11",),
        setup=with_ml_model,
        sdk=lambda sides, given: sides.sdk.ml_models.update_model(
            model_uuid=given["model"], title="Street v2", description="retrained"
        ),
        request=lambda given: model_request(
            given, models_pb2.UpdateMlModelRequest, title="Street v2", description="retrained"
        ),
    ),
    WireCase(
        name="UpdateMlModel as ml_models.update_model with a title only",
        rpc="MlModelService.UpdateMlModel",
        proves=("M-11",),
        setup=with_ml_model,
        sdk=lambda sides, given: sides.sdk.ml_models.update_model(
            model_uuid=given["model"], title="Street v3", description=None
        ),
        request=lambda given: model_request(given, models_pb2.UpdateMlModelRequest, title="Street v3"),
    ),
    WireCase(
        name="DeleteMlModel as ml_models.delete_model",
        rpc="MlModelService.DeleteMlModel",
        proves=("M-11",),
        setup=with_ml_model,
        sdk=lambda sides, given: sides.sdk.ml_models.delete_model(model_uuid=given["model"]),
        request=lambda given: model_request(given, models_pb2.DeleteMlModelRequest),
        gateway_fails="NOT_FOUND",
    ),
    WireCase(
        name="ListMlModels as ml_models.list_models by title",
        rpc="MlModelService.ListMlModels",
        proves=("M-12",),
        setup=with_ml_model,
        sdk=lambda sides, given: list(
            sides.sdk.ml_models.list_models(order_by=ModelsListOrderBy.TITLE, order_asc=True, query="model-")
        ),
        request=lambda given: models_pb2.ListMlModelsRequest(
            order_by=models_pb2.ML_MODELS_ORDER_BY_TITLE, order_asc=True, query="model-"
        ),
    ),
    WireCase(
        name="ListMlModels as ml_models.list_models newest first",
        rpc="MlModelService.ListMlModels",
        proves=("M-12",),
        setup=with_ml_model,
        sdk=lambda sides, given: list(
            sides.sdk.ml_models.list_models(order_by=ModelsListOrderBy.CREATED_AT, order_asc=False, query=None)
        ),
        request=lambda given: models_pb2.ListMlModelsRequest(order_by=models_pb2.ML_MODELS_ORDER_BY_CREATED_AT),
    ),
    WireCase(
        name="CreateMlTrainingJob as ml_models.create_training_job",
        rpc="MlModelService.CreateMlTrainingJob",
        proves=("M-13",),
        setup=with_ml_model,
        sdk=lambda sides, given: sides.sdk.ml_models.create_training_job(
            model_uuid=given["model"],
            batch_size=16,
            epochs=3,
            features_mapping={UUID(given["project"]): {given["Car"]: ["car"]}},
            labels_uuids=[UUID(given["clip"]), UUID(given["image"])],
            pretrained_training_uuid=None,
            pretrained_weights_type=None,
        ),
        request=lambda given: model_request(
            given,
            models_pb2.CreateMlTrainingJobRequest,
            batch_size=16,
            epochs=3,
            features_mapping=training_mapping(given),
            labels_uuids=[given["clip"], given["image"]],
        ),
        free_form=True,
    ),
    WireCase(
        name="CreateMlTrainingJob from pretrained weights and an earlier training",
        rpc="MlModelService.CreateMlTrainingJob",
        proves=("M-13",),
        setup=with_iteration,
        sdk=lambda sides, given: sides.sdk.ml_models.create_training_job(
            model_uuid=given["model"],
            batch_size=4,
            epochs=1,
            features_mapping={UUID(given["project"]): {given["Car"]: ["car"]}},
            labels_uuids=[UUID(given["image"])],
            pretrained_training_uuid=given["training"],
            pretrained_weights_type=None,
        ),
        request=lambda given: model_request(
            given,
            models_pb2.CreateMlTrainingJobRequest,
            batch_size=4,
            epochs=1,
            features_mapping=training_mapping(given),
            labels_uuids=[given["image"]],
            pretrained_training_uuid=str(given["training"]),
        ),
        free_form=True,
    ),
    WireCase(
        # The SDK waits up to 60 s per poll (the gateway's cap for a call without a deadline of its own).
        name="GetMlTrainingStatus as ml_models.get_training_status",
        rpc="MlModelService.GetMlTrainingStatus",
        proves=("M-14",),
        setup=with_training,
        sdk=lambda sides, given: sides.sdk.ml_models.get_training_status(
            model_uuid=given["model"], training_uuid=given["training"]
        ),
        request=lambda given: model_request(
            given, models_pb2.GetMlTrainingStatusRequest, training_uuid=str(given["training"])
        ),
    ),
    WireCase(
        name="StreamMlTrainingStatus of a finished training as ml_models.get_training_status",
        rpc="MlModelService.StreamMlTrainingStatus",
        proves=("M-14",),
        setup=with_iteration,
        sdk=lambda sides, given: sides.sdk.ml_models.get_training_status(
            model_uuid=given["model"], training_uuid=given["training"]
        ),
        request=lambda given: model_request(
            given, models_pb2.GetMlTrainingStatusRequest, training_uuid=str(given["training"]), timeout_seconds=60
        ),
    ),
    WireCase(
        name="ListMlTrainingData as ml_models.get_training_data",
        rpc="MlModelService.ListMlTrainingData",
        proves=("M-15",),
        setup=with_training,
        sdk=lambda sides, given: list(
            sides.sdk.ml_models.get_training_data(model_uuid=given["model"], training_uuid=given["training"])
        ),
        request=lambda given: model_request(
            given, models_pb2.ListMlTrainingDataRequest, training_uuid=str(given["training"])
        ),
    ),
    WireCase(
        name="GetMlWeightsDownloadLink as ml_models.get_weights_download_link",
        rpc="MlModelService.GetMlWeightsDownloadLink",
        proves=("M-15",),
        setup=with_iteration,
        sdk=lambda sides, given: sides.sdk.ml_models.get_weights_download_link(
            model_uuid=given["model"], training_uuid=given["training"]
        ),
        request=lambda given: model_request(
            given, models_pb2.GetMlWeightsDownloadLinkRequest, training_uuid=str(given["training"])
        ),
    ),
    WireCase(
        name="DeleteMlTrainingIteration as ml_models.delete_training_iteration",
        rpc="MlModelService.DeleteMlTrainingIteration",
        proves=("M-15",),
        setup=with_iteration,
        sdk=lambda sides, given: sides.sdk.ml_models.delete_training_iteration(
            model_uuid=given["model"], training_uuid=given["training"]
        ),
        request=lambda given: model_request(
            given, models_pb2.DeleteMlTrainingIterationRequest, training_uuid=str(given["training"])
        ),
        gateway_fails="NOT_FOUND",
    ),
]


def attachment_request(given: Given, message: Any, **fields: Any) -> Any:
    return message(project_hash=given["project"], project_model_uuid=str(given["attachment"]), **fields)


ATTACHMENT_CASES = [
    WireCase(
        name="CreateMlModelAttachment as ml_models.create_model_attachment",
        rpc="MlModelService.CreateMlModelAttachment",
        proves=("M-16",),
        setup=with_two_iterations,
        sdk=lambda sides, given: sides.sdk.ml_models.create_model_attachment(
            project_uuid=UUID(given["project"]),
            features_mapping={"car": given["Car"]},
            iteration_policy=ModelIterationPolicy.MANUAL_SELECTION,
            model_uuid=given["model"],
            training_uuids=[given["training"]],
        ),
        request=lambda given: models_pb2.CreateMlModelAttachmentRequest(
            project_hash=given["project"],
            features_mapping={"car": given["Car"]},
            iteration_policy=models_pb2.ML_ITERATION_POLICY_MANUAL_SELECTION,
            model_uuid=str(given["model2"]),
            training_uuids=[str(given["training2"])],
        ),
        masks=("modelUuid", "trainingUuids.0"),
    ),
    WireCase(
        name="ListMlModelAttachments as ml_models.list_model_attachments",
        rpc="MlModelService.ListMlModelAttachments",
        proves=("M-16",),
        setup=with_attachment,
        sdk=lambda sides, given: list(sides.sdk.ml_models.list_model_attachments(project_uuid=UUID(given["project"]))),
        request=lambda given: models_pb2.ListMlModelAttachmentsRequest(project_hash=given["project"]),
    ),
    WireCase(
        name="UpdateMlModelAttachment as ml_models.update_model_attachment",
        rpc="MlModelService.UpdateMlModelAttachment",
        proves=("M-16",),
        setup=with_attachment,
        sdk=lambda sides, given: sides.sdk.ml_models.update_model_attachment(
            project_uuid=UUID(given["project"]),
            project_model_uuid=given["attachment"],
            features_mapping={"car": given["Car"], "person": given["Person"]},
            iteration_policy=ModelIterationPolicy.USE_ALL,
            training_uuids=None,
        ),
        request=lambda given: attachment_request(
            given,
            models_pb2.UpdateMlModelAttachmentRequest,
            features_mapping={"car": given["Car"], "person": given["Person"]},
            iteration_policy=models_pb2.ML_ITERATION_POLICY_USE_ALL,
        ),
    ),
    WireCase(
        name="DeleteMlModelAttachment as ml_models.delete_model_attachment",
        rpc="MlModelService.DeleteMlModelAttachment",
        proves=("M-16",),
        setup=with_attachment,
        sdk=lambda sides, given: sides.sdk.ml_models.delete_model_attachment(
            project_uuid=UUID(given["project"]), project_model_uuid=given["attachment"]
        ),
        request=lambda given: attachment_request(given, models_pb2.DeleteMlModelAttachmentRequest),
        gateway_fails="NOT_FOUND",
    ),
]


PREDICTION_CASES = [
    WireCase(
        name="PredictMlModel as ml_models.predict_object_detection on a data unit",
        rpc="MlModelService.PredictMlModel",
        proves=("M-17",),
        setup=with_attachment,
        sdk=lambda sides, given: sides.sdk.ml_models.predict_object_detection(
            project_uuid=UUID(given["project"]),
            project_model_uuid=given["attachment"],
            training_uuid=given["training"],
            data_uuid=UUID(given["clip"]),
            data_path=None,
            frame_range_from=0,
            frame_range_to=1,
            allocation_enabled=False,
            conf_thresh=0.5,
            iou_thresh=0.45,
        ),
        request=lambda given: attachment_request(
            given,
            models_pb2.PredictMlModelRequest,
            training_uuid=str(given["training"]),
            kind=models_pb2.ML_PREDICTION_KIND_OBJECT_DETECTION,
            data_uuid=given["clip"],
            frame_range_from=0,
            frame_range_to=1,
            allocation_enabled=False,
            conf_thresh=0.5,
            iou_thresh=0.45,
        ),
    ),
    WireCase(
        name="PredictMlModel as ml_models.predict_classification on a file",
        rpc="MlModelService.PredictMlModel",
        proves=("M-17",),
        setup=with_classifier,
        sdk=lambda sides, given: sides.sdk.ml_models.predict_classification(
            project_uuid=UUID(given["project"]),
            project_model_uuid=given["attachment"],
            training_uuid=given["training"],
            data_uuid=None,
            data_path=PHOTO,
            frame_range_from=None,
            frame_range_to=None,
            conf_thresh=0.25,
        ),
        request=lambda given: attachment_request(
            given,
            models_pb2.PredictMlModelRequest,
            training_uuid=str(given["training"]),
            kind=models_pb2.ML_PREDICTION_KIND_CLASSIFICATION,
            data_base64=PHOTO.read_bytes(),
            conf_thresh=0.25,
        ),
    ),
    WireCase(
        name="PredictMlModelUpload as ml_models.predict_classification on a file",
        rpc="MlModelService.PredictMlModelUpload",
        proves=("M-17",),
        setup=with_classifier,
        sdk=lambda sides, given: sides.sdk.ml_models.predict_classification(
            project_uuid=UUID(given["project"]),
            project_model_uuid=given["attachment"],
            training_uuid=given["training"],
            data_uuid=None,
            data_path=PHOTO,
            frame_range_from=0,
            frame_range_to=0,
            conf_thresh=0.75,
        ),
        request=lambda given: attachment_request(
            given,
            models_pb2.PredictMlModelUploadRequest,
            training_uuid=str(given["training"]),
            kind=models_pb2.ML_PREDICTION_KIND_CLASSIFICATION,
            data_base64=PHOTO.read_bytes(),
            frame_range_from=0,
            frame_range_to=0,
            conf_thresh=0.75,
        ),
    ),
]


CASES = [*ALGORITHM_CASES, *LEGACY_CASES, *ML_MODEL_CASES, *ATTACHMENT_CASES, *PREDICTION_CASES]
