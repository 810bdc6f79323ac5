"""Models and labelling algorithms through a real gateway: training followed by a long poll and a stream, predictions
by unary call, client stream and REST upload, the legacy model API with a scoped project API key, interpolation and
box fitting, and the refusals a caller sees."""

from __future__ import annotations

import hashlib
import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import (
    datasets_pb2,
    models_pb2,
    models_pb2_grpc,
    ontologies_pb2,
    projects_pb2,
)
from google.protobuf import json_format, struct_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs

CAR, PERSON, ROAD, SUNNY, RAINY = "car00001", "pers0001", "road0001", "sunny001", "rainy001"
STRUCTURE = {
    "objects": [
        {"id": "1", "name": "Car", "color": "#FF0000", "shape": "bounding_box", "featureNodeHash": CAR},
        {"id": "2", "name": "Person", "color": "#00FF00", "shape": "bounding_box", "featureNodeHash": PERSON},
        {"id": "3", "name": "Road", "color": "#0000FF", "shape": "polygon", "featureNodeHash": ROAD},
    ],
    "classifications": [
        {
            "id": "4",
            "featureNodeHash": "wthr0001",
            "attributes": [
                {
                    "id": "4.1",
                    "name": "Weather",
                    "type": "radio",
                    "featureNodeHash": "wthr0002",
                    "options": [
                        {"id": "4.1.1", "label": "Sunny", "value": "sunny", "featureNodeHash": SUNNY},
                        {"id": "4.1.2", "label": "Rainy", "value": "rainy", "featureNodeHash": RAINY},
                    ],
                }
            ],
        }
    ],
}


def digest(training: str, source: str, frame: int, feature: str) -> bytes:
    """The documented derivation of the sandbox's predictions (sandbox/domains/ml_models.py: prediction_digest)."""
    return hashlib.sha256(f"{training}:{source}:{frame}:{feature}".encode()).digest()


@dataclass
class Services:
    ml: models_pb2_grpc.MlModelServiceStub
    legacy: models_pb2_grpc.ModelServiceStub
    algorithms: models_pb2_grpc.LabelingAlgorithmServiceStub
    md: tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def services(gateway: GatewayProcess) -> Iterator[Services]:
    with gateway.channel() as channel:
        yield Services(
            models_pb2_grpc.MlModelServiceStub(channel),
            models_pb2_grpc.ModelServiceStub(channel),
            models_pb2_grpc.LabelingAlgorithmServiceStub(channel),
            gateway.auth_metadata,
        )


@dataclass
class Street:
    project: str
    dataset: str
    clip: str  # a video of 3 frames
    image: str


@pytest.fixture
def street(stubs: Stubs, gateway: GatewayProcess, sandbox: Sandbox, make_title: Callable[[str], str]) -> Street:
    md = gateway.auth_metadata
    dataset = stubs.datasets.CreateDataset(datasets_pb2.CreateDatasetRequest(title=make_title("streets")), metadata=md)
    clip, image = sandbox.seed_data_units(
        dataset.dataset_hash,
        [{"title": "clip.mp4", "data_type": "VIDEO", "frames": 3}, {"title": "corner.jpg", "data_type": "IMAGE"}],
    )
    structure = struct_pb2.Struct()
    structure.update(STRUCTURE)
    ontology = stubs.ontologies.CreateOntology(
        ontologies_pb2.CreateOntologyRequest(title=make_title("street things"), structure=structure), metadata=md
    )
    project = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(
            title=make_title("streets"), dataset_hashes=[dataset.dataset_hash], ontology_hash=ontology.ontology_hash
        ),
        metadata=md,
    )
    return Street(project.project_hash, dataset.dataset_hash, clip["data_hash"], image["data_hash"])


def new_model(services: Services, architecture: int, features: list[str]) -> str:
    created = services.ml.CreateMlModel(
        models_pb2.CreateMlModelRequest(features=features, model=architecture, title=f"model-{uuid.uuid4().hex[:8]}"),
        metadata=services.md,
    )
    return created.model_group.model_uuid


def start_training(services: Services, street: Street, model: str, mapping: dict[str, list[str]]) -> str:
    request = models_pb2.CreateMlTrainingJobRequest(
        model_uuid=model, batch_size=4, epochs=2, labels_uuids=[street.clip, street.image]
    )
    request.features_mapping[street.project].update(mapping)
    return services.ml.CreateMlTrainingJob(request, metadata=services.md).training_uuid


def trained_and_attached(
    services: Services, street: Street, architecture: int, mapping: dict[str, str]
) -> tuple[str, str, str]:
    """(model, training, attachment) of a model trained to completion and attached with useLatest."""
    model = new_model(services, architecture, list(mapping))
    training = start_training(services, street, model, {feature: [name] for name, feature in mapping.items()})
    status = services.ml.GetMlTrainingStatus(
        models_pb2.GetMlTrainingStatusRequest(model_uuid=model, training_uuid=training), metadata=services.md
    )
    assert status.status == models_pb2.ML_TRAINING_STATE_DONE
    attachment = services.ml.CreateMlModelAttachment(
        models_pb2.CreateMlModelAttachmentRequest(
            project_hash=street.project,
            model_uuid=model,
            iteration_policy=models_pb2.ML_ITERATION_POLICY_USE_LATEST,
            features_mapping=mapping,
        ),
        metadata=services.md,
    )
    return model, training, attachment.project_model.project_model_uuid


def training_polls(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [e for e in sandbox.requests_log() if e["api"] == "v2" and e["path"].endswith("/training")]


def timeless(result: dict[str, Any]) -> dict[str, Any]:
    """A classification result without `createdAt`, the one member that says when, not what, was predicted."""
    return {frame: {k: v for k, v in item.items() if k != "createdAt"} for frame, item in result.items()}


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


# ---- trainings ------------------------------------------------------------------------------------


def test_a_training_streams_pending_then_done_and_model_reads_see_the_new_iteration(
    services: Services, street: Street, sandbox: Sandbox
) -> None:
    model = new_model(services, models_pb2.ML_MODEL_ARCHITECTURE_FASTER_RCNN, ["car"])
    read = models_pb2.GetMlModelRequest(model_uuid=model)
    before, call = services.ml.GetMlModel.with_call(read, metadata=services.md)
    assert list(before.model_iterations) == [] and dict(call.initial_metadata())["x-cache"] == "miss"
    training = start_training(services, street, model, {CAR: ["car"]})
    sandbox.clear_requests_log()

    statuses = list(
        services.ml.StreamMlTrainingStatus(
            models_pb2.GetMlTrainingStatusRequest(model_uuid=model, training_uuid=training, timeout_seconds=0),
            metadata=services.md,
        )
    )
    after, call = services.ml.GetMlModel.with_call(read, metadata=services.md)

    assert [s.status for s in statuses] == [
        models_pb2.ML_TRAINING_STATE_PENDING,
        models_pb2.ML_TRAINING_STATE_PENDING,
        models_pb2.ML_TRAINING_STATE_DONE,
    ]
    assert (statuses[-1].result.training_uuid, statuses[-1].result.epochs) == (training, 2)
    assert len(training_polls(sandbox)) == 3
    # The polls that saw the training finish dropped the cached model read.
    assert dict(call.initial_metadata())["x-cache"] == "miss"
    assert [i.training_uuid for i in after.model_iterations] == [training]


def test_the_long_poll_answers_at_once_when_told_not_to_wait_and_is_held_otherwise(
    services: Services, street: Street, sandbox: Sandbox
) -> None:
    model = new_model(services, models_pb2.ML_MODEL_ARCHITECTURE_FASTER_RCNN, ["car"])
    training = start_training(services, street, model, {CAR: ["car"]})
    poll = models_pb2.GetMlTrainingStatusRequest(model_uuid=model, training_uuid=training)

    at_once = models_pb2.GetMlTrainingStatusRequest()
    at_once.CopyFrom(poll)
    at_once.timeout_seconds = 0
    first = services.ml.GetMlTrainingStatus(at_once, metadata=services.md)
    sandbox.clear_requests_log()
    held = services.ml.GetMlTrainingStatus(poll, metadata=services.md)

    assert first.status == models_pb2.ML_TRAINING_STATE_PENDING and not first.HasField("result")
    assert held.status == models_pb2.ML_TRAINING_STATE_DONE and held.result.training_uuid == training
    assert len(training_polls(sandbox)) == 1  # one call, held by Encord until the training finished


def test_training_data_and_weights_over_rest(gateway: GatewayProcess, services: Services, street: Street) -> None:
    model, training, _ = trained_and_attached(
        services, street, models_pb2.ML_MODEL_ARCHITECTURE_FASTER_RCNN, {"car": CAR}
    )
    base = f"/v1/ml-models/{model}/iterations/{training}"

    first = gateway.rest("GET", f"{base}/training-data?page_size=1")
    second = gateway.rest("GET", f"{base}/training-data?page_size=1&page_token={first.json()['next_page_token']}")
    link = gateway.rest("GET", f"{base}/weights-link").json()["url"]
    with urllib.request.urlopen(link, timeout=10) as response:
        weights = json.loads(response.read())

    assert [first.status, second.status] == [200, 200]
    titles = [item["file_title"] for page in (first, second) for item in page.json()["items"]]
    assert titles == ["clip.mp4", "corner.jpg"] and "next_page_token" not in second.json()
    assert first.json()["items"][0]["item_type"] == "ML_ITEM_TYPE_VIDEO"
    assert (weights["trainingUuid"], weights["modelUuid"], weights["epochs"]) == (training, model, 2)


def test_a_training_needs_read_access_to_every_project_it_maps(
    gateway: GatewayProcess,
    gateway_kit: GatewayKit,
    services: Services,
    stubs: Stubs,
    street: Street,
    sandbox: Sandbox,
    make_title: Callable[[str], str],
) -> None:
    other = stubs.projects.CreateProject(
        projects_pb2.CreateProjectRequest(title=make_title("elsewhere")), metadata=gateway.auth_metadata
    ).project_hash
    model = new_model(services, models_pb2.ML_MODEL_ARCHITECTURE_FASTER_RCNN, ["car"])
    caller = f"trainer-{uuid.uuid4().hex[:8]}"
    grant = {"organisation": gateway.organisation, "resources": ["ml_model:*", f"project:{street.project}"]}
    gateway_kit.create_caller(gateway.data_dir, caller, {"grants": [{**grant, "rights": ["read", "write"]}]})
    token, _ = gateway_kit.issue_token(gateway.data_dir, caller)
    trainer = (("authorization", f"Bearer {token}"),)

    def training_on(project: str) -> models_pb2.CreateMlTrainingJobRequest:
        request = models_pb2.CreateMlTrainingJobRequest(
            model_uuid=model, batch_size=1, epochs=1, labels_uuids=[street.clip]
        )
        request.features_mapping[project].update({CAR: ["car"]})
        return request

    sandbox.clear_requests_log()
    denied = rpc_error(lambda: services.ml.CreateMlTrainingJob(training_on(other), metadata=trainer))
    allowed = services.ml.CreateMlTrainingJob(training_on(street.project), metadata=trainer)

    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and "features_mapping" in (denied.details() or "")
    assert allowed.training_uuid
    assert len([e for e in sandbox.requests_log() if e["path"].endswith("/trainings")]) == 1


# ---- predictions ----------------------------------------------------------------------------------


def test_a_file_predicts_the_same_by_unary_call_client_stream_and_rest_upload(
    gateway: GatewayProcess, services: Services, street: Street
) -> None:
    _, training, attachment = trained_and_attached(
        services, street, models_pb2.ML_MODEL_ARCHITECTURE_RESNET18, {"sun": SUNNY, "rain": RAINY}
    )
    photo = b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9"
    kind = models_pb2.ML_PREDICTION_KIND_CLASSIFICATION
    where = {"project_hash": street.project, "project_model_uuid": attachment, "training_uuid": training}

    unary = services.ml.PredictMlModel(
        models_pb2.PredictMlModelRequest(**where, kind=kind, conf_thresh=0.0, data_base64=photo), metadata=services.md
    )
    pieces = [photo[:1000], photo[1000:5000], photo[5000:]]
    streamed = services.ml.PredictMlModelUpload(
        iter(
            [models_pb2.PredictMlModelUploadRequest(**where, kind=kind, conf_thresh=0.0, data_base64=pieces[0])]
            + [models_pb2.PredictMlModelUploadRequest(data_base64=piece) for piece in pieces[1:]]
        ),
        metadata=services.md,
    )
    query = urlencode({"kind": "ML_PREDICTION_KIND_CLASSIFICATION", "conf_thresh": 0})
    uploaded = gateway.rest(
        "POST",
        f"/v1/projects/{street.project}/ml-model-attachments/{attachment}/iterations/{training}:predictUpload?{query}",
        raw=photo,
    )

    source = "sha256:" + hashlib.sha256(photo).hexdigest()
    sun, rain = (digest(training, source, 0, f)[0] / 255 for f in ("sun", "rain"))
    prediction = json_format.MessageToDict(unary)["result"]
    assert list(prediction) == ["0"]
    assert prediction["0"]["name"] == ("Rainy" if rain > sun else "Sunny")
    assert prediction["0"]["confidence"] == round(max(sun, rain), 4)
    assert timeless(json_format.MessageToDict(streamed)["result"]) == timeless(prediction)
    assert uploaded.status == 200, uploaded.body
    assert timeless(uploaded.json()["result"]) == timeless(prediction)


def test_object_detection_on_a_data_unit_over_rest(gateway: GatewayProcess, services: Services, street: Street) -> None:
    _, training, attachment = trained_and_attached(
        services, street, models_pb2.ML_MODEL_ARCHITECTURE_FASTER_RCNN, {"car": CAR, "person": PERSON}
    )

    reply = gateway.rest(
        "POST",
        f"/v1/projects/{street.project}/ml-model-attachments/{attachment}/iterations/{training}:predict",
        body={
            "kind": "ML_PREDICTION_KIND_OBJECT_DETECTION", "data_uuid": street.clip, "frame_range_from": 1,
            "conf_thresh": 0.0, "iou_thresh": 1.0, "allocation_enabled": True,
        },
    )  # fmt: skip

    assert reply.status == 200, reply.body
    result = reply.json()["result"]
    assert sorted(result) == ["1", "2"]
    for frame, objects in result.items():
        boxes = {o["name"]: o["boundingBox"] for o in objects}
        for name, feature in (("Car", "car"), ("Person", "person")):
            d = digest(training, street.clip, int(frame), feature)
            assert boxes[name] == {"x": round(d[1] / 512, 4), "y": round(d[2] / 512, 4),
                                   "w": round(0.25 + d[3] / 1024, 4), "h": round(0.25 + d[4] / 1024, 4)}  # fmt: skip


def test_bad_prediction_requests_are_refused_before_any_upstream_call(
    services: Services, street: Street, sandbox: Sandbox
) -> None:
    where = {"project_hash": street.project, "project_model_uuid": str(uuid.uuid4()), "training_uuid": "not-a-uuid"}
    sandbox.clear_requests_log()

    no_kind = rpc_error(lambda: services.ml.PredictMlModel(
        models_pb2.PredictMlModelRequest(**where, conf_thresh=0.5), metadata=services.md
    ))  # fmt: skip
    no_bytes = rpc_error(lambda: services.ml.PredictMlModelUpload(
        iter([models_pb2.PredictMlModelUploadRequest(**where, kind=1, conf_thresh=0.5)]), metadata=services.md
    ))  # fmt: skip
    bad_label = rpc_error(lambda: services.ml.CreateMlTrainingJob(
        models_pb2.CreateMlTrainingJobRequest(
            model_uuid=str(uuid.uuid4()), batch_size=1, epochs=1, labels_uuids=["label-1"]
        ),
        metadata=services.md,
    ))  # fmt: skip

    assert no_kind.code() == grpc.StatusCode.INVALID_ARGUMENT and "kind" in (no_kind.details() or "")
    assert "training_uuid" in (no_kind.details() or "")
    assert no_bytes.code() == grpc.StatusCode.INVALID_ARGUMENT and "data_base64" in (no_bytes.details() or "")
    assert bad_label.code() == grpc.StatusCode.INVALID_ARGUMENT and "labels_uuids[0]" in (bad_label.details() or "")
    assert sandbox.requests_log() == []


def test_refusals_by_encord_reach_the_caller(services: Services, street: Street) -> None:
    missing = rpc_error(lambda: services.ml.GetMlModel(
        models_pb2.GetMlModelRequest(model_uuid=str(uuid.uuid4())), metadata=services.md
    ))  # fmt: skip
    model = new_model(services, models_pb2.ML_MODEL_ARCHITECTURE_RESNET18, ["sun"])
    wrong_kind = rpc_error(lambda: services.ml.CreateMlModelAttachment(
        models_pb2.CreateMlModelAttachmentRequest(
            project_hash=street.project, model_uuid=model, features_mapping={"sun": CAR},
            iteration_policy=models_pb2.ML_ITERATION_POLICY_USE_ALL,
        ),
        metadata=services.md,
    ))  # fmt: skip

    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert wrong_kind.code() == grpc.StatusCode.INVALID_ARGUMENT  # a box feature for a classifier
    assert "classification" in (wrong_kind.details() or "")


# ---- legacy models --------------------------------------------------------------------------------


def test_legacy_inference_is_signed_with_a_project_key_of_the_inference_scope(
    services: Services, stubs: Stubs, street: Street, sandbox: Sandbox
) -> None:
    md = services.md
    model_hash = services.legacy.CreateLegacyModel(
        models_pb2.CreateLegacyModelRequest(
            project_hash=street.project,
            model_parameters=models_pb2.LegacyModelRow(
                title="Cars", features=[CAR], model=models_pb2.LEGACY_AUTOMATION_MODEL_FASTER_RCNN
            ),
        ),
        metadata=md,
    ).model_hash
    listed = services.legacy.ListLegacyModels(
        models_pb2.ListLegacyModelsRequest(project_hash=street.project), metadata=md
    )
    stubs.projects.CreateProjectApiKey(
        projects_pb2.CreateProjectApiKeyRequest(project_hash=street.project, title="infer", scopes=["model.inference"]),
        metadata=md,
    )
    sandbox.clear_requests_log()

    iteration = services.legacy.TrainLegacyModel(
        models_pb2.TrainLegacyModelRequest(
            project_hash=street.project,
            model_hash=model_hash,
            model_parameters=models_pb2.LegacyTrainingParams(
                label_rows=[street.clip], epochs=3, batch_size=24, device=models_pb2.LEGACY_DEVICE_CPU,
                weights=models_pb2.LegacyTrainingWeights(
                    model=models_pb2.LEGACY_AUTOMATION_MODEL_FASTER_RCNN, training_weights_link="https://w.test/rcnn",
                ),
            ),
        ),
        metadata=md,
    )  # fmt: skip
    inferred = services.legacy.InferLegacyModel(
        models_pb2.InferLegacyModelRequest(
            project_hash=street.project,
            model_iteration_hash=iteration.model_iteration_uid,
            model_parameters=models_pb2.LegacyInferenceParams(
                data_hashes=[street.clip], conf_thresh=0.0, iou_thresh=1.0, device=models_pb2.LEGACY_DEVICE_CPU,
                detection_frame_range=[2, 2], rdp_thresh=0.005,
            ),
        ),
        metadata=md,
    )  # fmt: skip
    relisted = services.legacy.ListLegacyModels(
        models_pb2.ListLegacyModelsRequest(project_hash=street.project), metadata=md
    )

    calls = [e for e in sandbox.requests_log() if e["query_type"] == "model" and e["query_method"] == "POST"]
    assert [e["auth"] for e in calls] == ["ssh", "api_key"]  # the key has model.inference, not model.train
    assert iteration.training_final_loss == pytest.approx(0.3333)
    result = json_format.MessageToDict(inferred)["result"]
    assert list(result) == [street.clip] and list(result[street.clip]) == ["2"]
    (car,) = result[street.clip]["2"]
    assert car["confidence"] == round(digest(iteration.model_iteration_uid, street.clip, 2, CAR)[0] / 255, 4)
    assert [list(m.model_iteration_uids) for m in listed.models] == [[]]
    # Training dropped the cached listing: the new iteration shows at once.
    assert [list(m.model_iteration_uids) for m in relisted.models] == [[iteration.model_iteration_uid]]


# ---- labelling algorithms -------------------------------------------------------------------------


def test_interpolation_over_rest_moves_a_box_linearly(gateway: GatewayProcess, street: Street) -> None:
    def car(x: float, y: float) -> dict[str, Any]:
        return {"objectHash": "c1", "featureHash": CAR, "boundingBox": {"x": x, "y": y, "w": 0.2, "h": 0.1}}

    reply = gateway.rest(
        "POST",
        f"/v1/projects/{street.project}/labels:interpolate",
        body={"key_frames": {"0": {"objects": [car(0.0, 0.5)]}, "10": {"objects": [car(0.5, 0.0)]}},
              "objects_to_interpolate": ["c1"]},
    )  # fmt: skip

    assert reply.status == 200, reply.body
    frames = reply.json()["frames"]
    assert sorted(frames, key=int) == [str(n) for n in range(11)]
    assert frames["5"]["objects"] == [car(0.25, 0.25)]


def test_box_fitting_encloses_a_polygon(services: Services, street: Street) -> None:
    labels = struct_pb2.Struct()
    polygon = {"0": {"x": 0.25, "y": 0.5}, "1": {"x": 0.75, "y": 0.25}, "2": {"x": 0.5, "y": 0.75}}
    labels.update({"2": {"objects": [{"objectHash": "r1", "featureHash": ROAD, "polygon": polygon}]}})

    fitted = services.algorithms.FitBoundingBoxes(
        models_pb2.FitBoundingBoxesRequest(
            project_hash=street.project, labels=labels, video=models_pb2.VideoSize(width=400, height=200)
        ),
        metadata=services.md,
    )

    (road,) = json_format.MessageToDict(fitted)["frames"]["2"]["objects"]
    assert road == {"objectHash": "r1", "featureHash": ROAD, "boundingBox": {"x": 0.25, "y": 0.25, "w": 0.5, "h": 0.5}}


def test_labelling_algorithms_refuse_features_outside_the_ontology(services: Services, street: Street) -> None:
    key_frames = struct_pb2.Struct()
    alien = {"objectHash": "x", "featureHash": "nothere1", "point": {"0": {"x": 0.1, "y": 0.1}}}
    key_frames.update({"0": {"objects": [alien]}, "3": {"objects": [alien]}})

    error = rpc_error(lambda: services.algorithms.InterpolateObjects(
        models_pb2.InterpolateObjectsRequest(
            project_hash=street.project, key_frames=key_frames, objects_to_interpolate=["x"]
        ),
        metadata=services.md,
    ))  # fmt: skip

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nothere1" in (error.details() or "")
