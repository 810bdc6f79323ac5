"""The official SDK (0.1.211) training, attaching and using ML models in the sandbox, and the legacy model and
labelling-algorithm calls it no longer has, sent through its own v1 transport (tests/wire/wire_legacy.py)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from encord import EncordUserClient
from encord.exceptions import (
    AuthorisationError,
    InvalidArgumentsError,
    ResourceNotFoundError,
)
from encord.objects import OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.objects.ml_models import (
    ModelArchitecture,
    ModelIterationPolicy,
    ModelsListOrderBy,
    ModelType,
    StorageItemType,
)
from encord.orm.dataset import StorageLocation

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

WIRE_LEGACY = Path(__file__).resolve().parent.parent / "wire" / "wire_legacy.py"


def _wire_legacy() -> ModuleType:
    """tests/wire/wire_legacy.py (the SDK's own v1 transport for calls it dropped), loaded by path."""
    name = "wire_legacy"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WIRE_LEGACY)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def legacy(client: EncordUserClient, project_hash: str, query_type: str, method: str, **values: Any) -> Any:
    return _wire_legacy().legacy_v1_call(client, query_type, method, resource=("project", project_hash), **values)


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


def expected_candidate(
    training: str, source: str, frame: int, feature: str
) -> tuple[float, float, float, float, float]:
    """What the sandbox documents its predictions derive from (ml_models.prediction_digest), computed here independently:
    (confidence, x, y, w, h)."""
    d = hashlib.sha256(f"{training}:{source}:{frame}:{feature}".encode()).digest()
    return (
        round(d[0] / 255, 4), round(d[1] / 512, 4), round(d[2] / 512, 4),
        round(0.25 + d[3] / 1024, 4), round(0.25 + d[4] / 1024, 4),
    )  # fmt: skip


def street_ontology() -> OntologyStructure:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    structure.add_object("Person", Shape.BOUNDING_BOX)
    structure.add_object("Road", Shape.POLYGON)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


class Street:
    """A project with a video and an image, and the feature hashes of its ontology."""

    def __init__(self, client: EncordUserClient, sandbox: Sandbox) -> None:
        dataset = client.create_dataset("Streets", StorageLocation.CORD_STORAGE)
        self.clip, self.image = sandbox.seed_data_units(
            dataset.dataset_hash,
            [{"title": "clip.mp4", "data_type": "VIDEO", "frames": 4}, {"title": "corner.jpg", "data_type": "IMAGE"}],
        )
        ontology = client.create_ontology("Street things", structure=street_ontology())
        self.project_hash = client.create_project(
            "Streets", [dataset.dataset_hash], ontology_hash=ontology.ontology_hash
        )
        self.dataset_hash = dataset.dataset_hash
        structure = ontology.structure
        self.car = structure.get_child_by_title("Car").feature_node_hash
        self.person = structure.get_child_by_title("Person").feature_node_hash
        self.road = structure.get_child_by_title("Road").feature_node_hash
        self.sunny = structure.get_child_by_title("Sunny").feature_node_hash
        self.rainy = structure.get_child_by_title("Rainy").feature_node_hash
        self.weather = structure.classifications[0].feature_node_hash


@pytest.fixture
def street(client: EncordUserClient, sandbox: Sandbox) -> Street:
    return Street(client, sandbox)


def trained_detector(client: EncordUserClient, street: Street) -> tuple[UUID, UUID]:
    ml = client.ml_models
    model = ml.create_model(
        features=["car", "person"], model=ModelArchitecture.FASTER_RCNN, title="Street detector", description=None
    )
    training = ml.create_training_job(
        model_uuid=model.model_group.model_uuid,
        batch_size=8,
        epochs=3,
        features_mapping={UUID(street.project_hash): {street.car: ["car"], street.person: ["person"]}},
        labels_uuids=[UUID(street.clip["data_hash"]), UUID(street.image["data_hash"])],
        pretrained_training_uuid=None,
        pretrained_weights_type=None,
    )
    ml.get_training_status(model_uuid=model.model_group.model_uuid, training_uuid=training)
    return model.model_group.model_uuid, training


# ---- ML models (v2) ------------------------------------------------------------------------------


def test_a_model_is_created_trained_attached_and_predicts_deterministically(
    client: EncordUserClient, street: Street
) -> None:
    ml = client.ml_models
    model = ml.create_model(
        features=["car", "person"], model=ModelArchitecture.FASTER_RCNN, title="Street detector", description="v1"
    )
    model_uuid = model.model_group.model_uuid
    assert model.model_group.type == ModelType.OBJECT_DETECTION and model.model_iterations == []

    training = ml.create_training_job(
        model_uuid=model_uuid,
        batch_size=8,
        epochs=3,
        features_mapping={UUID(street.project_hash): {street.car: ["car"], street.person: ["person"]}},
        labels_uuids=[UUID(street.clip["data_hash"])],
        pretrained_training_uuid=None,
        pretrained_weights_type=None,
    )
    iteration = ml.get_training_status(model_uuid=model_uuid, training_uuid=training)  # a long poll, held till done

    assert (iteration.training_uuid, iteration.epochs, iteration.batch_size) == (training, 3, 8)
    assert iteration.loss_log == {"0": 1.0, "1": 0.5, "2": 0.3333}
    assert [i.training_uuid for i in ml.get_model(model_uuid=model_uuid).model_iterations] == [training]

    attachment = ml.create_model_attachment(
        project_uuid=UUID(street.project_hash),
        features_mapping={"car": street.car, "person": street.person},
        iteration_policy=ModelIterationPolicy.USE_LATEST,
        model_uuid=model_uuid,
        training_uuids=None,
    )
    assert {k: v.name for k, v in attachment.project_model.features_mapping.items()} == {
        "car": "Car",
        "person": "Person",
    }
    assert [i.training_uuid for i in attachment.project_model_iterations] == [training]

    predictions = ml.predict_object_detection(
        project_uuid=UUID(street.project_hash),
        project_model_uuid=attachment.project_model.project_model_uuid,
        training_uuid=training,
        data_uuid=UUID(street.clip["data_hash"]),
        data_path=None,
        frame_range_from=1,
        frame_range_to=2,
        allocation_enabled=True,
        conf_thresh=0.0,
        iou_thresh=1.0,
    )

    assert sorted(predictions) == [1, 2]
    for frame, found in predictions.items():
        expected = {
            (name, *expected_candidate(str(training), street.clip["data_hash"], frame, feature))
            for feature, name in (("car", "Car"), ("person", "Person"))
        }
        got = {
            (p.name, p.confidence, p.bounding_box.x, p.bounding_box.y, p.bounding_box.w, p.bounding_box.h)
            for p in found
        }
        assert got == expected
    # With allocation enabled an object keeps its identity from frame to frame.
    assert {p.name: p.object_id for p in predictions[1]} == {p.name: p.object_id for p in predictions[2]}


def test_training_status_answers_at_once_when_asked_not_to_wait(client: EncordUserClient, street: Street) -> None:
    ml = client.ml_models
    model = ml.create_model(features=["car"], model=ModelArchitecture.FASTER_RCNN, title="Patient", description=None)
    model_uuid = model.model_group.model_uuid
    training = ml.create_training_job(
        model_uuid=model_uuid,
        batch_size=4,
        epochs=2,
        features_mapping={UUID(street.project_hash): {street.car: ["car"]}},
        labels_uuids=[UUID(street.image["data_hash"])],
        pretrained_training_uuid=None,
        pretrained_weights_type=None,
    )

    # timeoutSeconds=0: each poll answers "pending" at once, which the SDK reports as not finished; the training
    # finishes on the third look.
    for _ in range(2):
        with pytest.raises(ValueError, match="PENDING"):
            ml.get_training_status(model_uuid=model_uuid, training_uuid=training, timeout_seconds=0)
    assert ml.get_model(model_uuid=model_uuid).model_iterations == []
    done = ml.get_training_status(model_uuid=model_uuid, training_uuid=training, timeout_seconds=0)

    assert done.training_uuid == training
    assert [i.training_uuid for i in ml.get_model(model_uuid=model_uuid).model_iterations] == [training]


def test_training_data_weights_link_and_deleting_an_iteration(client: EncordUserClient, street: Street) -> None:
    ml = client.ml_models
    model_uuid, training = trained_detector(client, street)

    data = sorted(ml.get_training_data(model_uuid=model_uuid, training_uuid=training), key=lambda d: d.file_title)
    link = ml.get_weights_download_link(model_uuid=model_uuid, training_uuid=training)
    with urllib.request.urlopen(link, timeout=10) as response:  # no Encord credentials: the link is the right
        weights = json.loads(response.read())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(link.replace("token=", "token=x"), timeout=10)

    assert [(d.file_title, d.item_type, str(d.label_uuid), d.project_title) for d in data] == [
        ("clip.mp4", StorageItemType.VIDEO, street.clip["data_hash"], "Streets"),
        ("corner.jpg", StorageItemType.IMAGE, street.image["data_hash"], "Streets"),
    ]
    assert {str(d.dataset_uuid) for d in data} == {street.dataset_hash}
    assert (weights["trainingUuid"], weights["architecture"], weights["features"]) == (
        str(training),
        "fasterRcnn",
        ["car", "person"],
    )
    assert refused.value.code == 403

    ml.delete_training_iteration(model_uuid=model_uuid, training_uuid=training)
    assert ml.get_model(model_uuid=model_uuid).model_iterations == []
    with pytest.raises(ResourceNotFoundError):
        ml.get_weights_download_link(model_uuid=model_uuid, training_uuid=training)


def test_models_list_in_order_filter_update_and_delete(client: EncordUserClient) -> None:
    ml = client.ml_models
    created = [
        ml.create_model(features=["cat"], model=arch, title=title, description=description).model_group.model_uuid
        for title, arch, description in (
            ("Beta", ModelArchitecture.RESNET_18, "pets"),
            ("alpha", ModelArchitecture.VGG_16, "street"),
            ("Gamma", ModelArchitecture.MASK_RCNN, "pets"),
        )
    ]

    def titles(**options: Any) -> list[str]:
        return [m.model_group.title for m in ml.list_models(**options)]

    assert titles(order_by=ModelsListOrderBy.TITLE, order_asc=True, query=None) == ["alpha", "Beta", "Gamma"]
    assert titles(order_by=ModelsListOrderBy.CREATED_AT, order_asc=False, query=None) == ["Gamma", "alpha", "Beta"]
    assert titles(order_by=ModelsListOrderBy.TITLE, order_asc=False, query="PETS") == ["Gamma", "Beta"]

    renamed = ml.update_model(model_uuid=created[0], title="Delta", description=None)
    ml.delete_model(model_uuid=created[1])

    assert (renamed.model_group.title, renamed.model_group.description) == ("Delta", "pets")
    assert titles(order_by=ModelsListOrderBy.TITLE, order_asc=True, query=None) == ["Delta", "Gamma"]
    with pytest.raises(ResourceNotFoundError):
        ml.get_model(model_uuid=created[1])


def test_attachments_list_update_and_delete(client: EncordUserClient, street: Street) -> None:
    ml = client.ml_models
    model_uuid, first = trained_detector(client, street)
    second = ml.create_training_job(
        model_uuid=model_uuid,
        batch_size=8,
        epochs=1,
        features_mapping={UUID(street.project_hash): {street.car: ["car"]}},
        labels_uuids=[UUID(street.image["data_hash"])],
        pretrained_training_uuid=first,
        pretrained_weights_type=None,
    )
    ml.get_training_status(model_uuid=model_uuid, training_uuid=second)
    project = UUID(street.project_hash)
    attached = ml.create_model_attachment(
        project_uuid=project,
        features_mapping={"car": street.car},
        iteration_policy=ModelIterationPolicy.MANUAL_SELECTION,
        model_uuid=model_uuid,
        training_uuids=[first],
    )
    pm = attached.project_model.project_model_uuid

    listed = list(ml.list_model_attachments(project_uuid=project))
    updated = ml.update_model_attachment(
        project_uuid=project,
        project_model_uuid=pm,
        features_mapping={"car": street.car, "person": street.person},
        iteration_policy=ModelIterationPolicy.USE_ALL,
        training_uuids=None,
    )

    assert [
        (a.project_model.project_model_uuid, [i.training_uuid for i in a.project_model_iterations]) for a in listed
    ] == [(pm, [first])]
    assert [i.training_uuid for i in updated.project_model_iterations] == [first, second]
    assert set(updated.project_model.features_mapping) == {"car", "person"}
    ml.delete_model_attachment(project_uuid=project, project_model_uuid=pm)
    assert list(ml.list_model_attachments(project_uuid=project)) == []


def test_classification_and_segmentation_predict_on_uploaded_files(
    client: EncordUserClient, street: Street, tmp_path: Path
) -> None:
    ml = client.ml_models
    project = UUID(street.project_hash)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    source = "sha256:" + hashlib.sha256(photo.read_bytes()).hexdigest()

    def ready(
        features: list[str], arch: ModelArchitecture, mapping: dict[str, str], ontology: dict[str, list[str]]
    ) -> tuple[UUID, UUID]:
        model = ml.create_model(
            features=features, model=arch, title=arch.value, description=None
        ).model_group.model_uuid
        training = ml.create_training_job(
            model_uuid=model, batch_size=2, epochs=1, features_mapping={project: ontology},
            labels_uuids=[UUID(street.image["data_hash"])], pretrained_training_uuid=None, pretrained_weights_type=None,
        )  # fmt: skip
        ml.get_training_status(model_uuid=model, training_uuid=training)
        pm = ml.create_model_attachment(
            project_uuid=project, features_mapping=mapping, iteration_policy=ModelIterationPolicy.USE_LATEST,
            model_uuid=model, training_uuids=None,
        ).project_model.project_model_uuid  # fmt: skip
        return pm, training

    pm, training = ready(
        ["sun", "rain"], ModelArchitecture.RESNET_50, {"sun": street.sunny, "rain": street.rainy},
        {street.sunny: ["sun"], street.rainy: ["rain"]},
    )  # fmt: skip
    classified = ml.predict_classification(
        project_uuid=project, project_model_uuid=pm, training_uuid=training, data_uuid=None, data_path=photo,
        frame_range_from=None, frame_range_to=None, conf_thresh=0.0,
    )  # fmt: skip
    sun, rain = (expected_candidate(str(training), source, 0, f)[0] for f in ("sun", "rain"))
    top = classified[0]
    assert top is not None and list(classified) == [0]
    assert (top.name, top.confidence) == (("Rainy", rain) if rain > sun else ("Sunny", sun))
    assert top.feature_id_parent == street.weather
    assert ml.predict_classification(
        project_uuid=project, project_model_uuid=pm, training_uuid=training, data_uuid=None, data_path=photo,
        frame_range_from=None, frame_range_to=None, conf_thresh=max(sun, rain) + 0.0001,
    ) == {0: None}  # fmt: skip

    pm, training = ready(["road"], ModelArchitecture.MASK_RCNN, {"road": street.road}, {street.road: ["road"]})
    segmented = ml.predict_instance_segmentation(
        project_uuid=project, project_model_uuid=pm, training_uuid=training, data_uuid=None, data_path=photo,
        frame_range_from=None, frame_range_to=None, allocation_enabled=False, conf_thresh=0.0, iou_thresh=0.5,
        rdp_thresh=None,
    )  # fmt: skip
    _, x, y, w, h = expected_candidate(str(training), source, 0, "road")
    (road,) = segmented[0]
    assert road.name == "Road"
    assert [(p.x, p.y) for p in road.polygon] == [
        (x, y), (round(x + w, 4), y), (round(x + w, 4), round(y + h, 4)), (x, round(y + h, 4))
    ]  # fmt: skip


def test_model_refusals_reach_the_sdk_as_its_errors(
    client: EncordUserClient, street: Street, sandbox: Sandbox, make_user: Any
) -> None:
    ml = client.ml_models
    model_uuid, training = trained_detector(client, street)
    stranger = EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)

    with pytest.raises(ResourceNotFoundError):
        stranger.ml_models.get_model(model_uuid=model_uuid)
    with pytest.raises(InvalidArgumentsError):  # features of another kind than the model predicts
        ml.create_model_attachment(
            project_uuid=UUID(street.project_hash), features_mapping={"car": street.road},
            iteration_policy=ModelIterationPolicy.USE_ALL, model_uuid=model_uuid, training_uuids=None,
        )  # fmt: skip
    with pytest.raises(InvalidArgumentsError):  # a label that is not in the mapped project
        ml.create_training_job(
            model_uuid=model_uuid, batch_size=1, epochs=1,
            features_mapping={UUID(street.project_hash): {street.car: ["car"]}}, labels_uuids=[uuid.uuid4()],
            pretrained_training_uuid=None, pretrained_weights_type=None,
        )  # fmt: skip
    with pytest.raises(ResourceNotFoundError):  # no such training
        ml.get_training_status(model_uuid=model_uuid, training_uuid=uuid.uuid4(), timeout_seconds=0)
    assert [i.training_uuid for i in ml.get_model(model_uuid=model_uuid).model_iterations] == [training]


# ---- legacy models (v1, dropped from the SDK) ----------------------------------------------------


def test_legacy_model_row_trains_lists_and_infers(client: EncordUserClient, street: Street) -> None:
    p = street.project_hash
    model_hash = legacy(
        client, p, "model", "PUT",
        payload={"model_operation": 2, "model_parameters": {
            "title": "Cars", "description": "", "features": [street.car, street.person], "model": "faster_rcnn"}},
    )  # fmt: skip
    iteration = legacy(
        client, p, "model", "POST", uid=model_hash,
        payload={"model_operation": 1, "model_parameters": {
            "label_rows": [street.clip["data_hash"]], "epochs": 4, "batch_size": 24, "device": "cpu",
            "weights": {"model": "faster_rcnn", "training_config_link": "faster_rcnn_R_50_FPN_1x.yaml",
                        "training_weights_link": "https://example.test/faster_rcnn_R_50_FPN_1x.pkl"}}},
    )  # fmt: skip
    uid = iteration["model_iteration_uid"]

    (listed,) = legacy(client, p, "modelconfiguration", "GET")
    (metadata,) = legacy(
        client, p, "trainingmetadata", "GET",
        payload={"model_iteration_uids": [uid], "get_created_at": True, "get_training_final_loss": True,
                 "get_model_training_labels": True},
    )  # fmt: skip
    picture = base64.b64encode(b"pixels").decode()
    result = legacy(
        client, p, "model", "POST", uid=uid,
        payload={"model_operation": 0, "model_parameters": {
            "files": [{"uid": "pixels.jpg", "base64_str": picture}], "conf_thresh": 0.0, "iou_thresh": 1.0,
            "device": "cpu", "detection_frame_range": [], "allocation_enabled": False, "data_hashes": None,
            "rdp_thresh": 0.005}},
    )  # fmt: skip

    assert (iteration["model_hash"], iteration["epochs"], iteration["training_final_loss"]) == (model_hash, 4, 0.25)
    assert (listed["model_uid"], listed["model"], listed["model_iteration_uids"]) == (model_hash, "faster_rcnn", [uid])
    assert listed["feature_node_hashes"] == {street.car: "Car", street.person: "Person"}
    assert metadata["training_final_loss"] == 0.25 and metadata["created_at"]
    assert metadata["model_training_labels"] == {
        "label_metadata_list": [
            {
                "label_uid": street.clip["data_hash"],
                "data_uid": street.clip["data_hash"],
                "data_link": street.clip["file_link"],
            }
        ],
        "feature_uids": [street.car, street.person],
    }
    source = "sha256:" + hashlib.sha256(b"pixels").hexdigest()
    assert {o["featureHash"]: o["confidence"] for o in result["pixels.jpg"]["0"]} == {
        f: expected_candidate(uid, source, 0, f)[0] for f in (street.car, street.person)
    }

    assert legacy(client, p, "model", "DELETE", uid=model_hash) is True
    with pytest.raises(ResourceNotFoundError):  # its iterations went with it
        legacy(client, p, "trainingmetadata", "GET", payload={"model_iteration_uids": [uid], "get_created_at": True})
    with pytest.raises(ResourceNotFoundError):
        legacy(client, p, "model", "DELETE", uid=model_hash)


def test_legacy_model_refuses_features_outside_the_ontology(client: EncordUserClient, street: Street) -> None:
    with pytest.raises(InvalidArgumentsError):
        legacy(
            client, street.project_hash, "model", "PUT",
            payload={"model_operation": 2, "model_parameters": {
                "title": "Roads", "description": "", "features": [street.road], "model": "faster_rcnn"}},
        )  # fmt: skip


# ---- labelling algorithms ------------------------------------------------------------------------


def box(x: float, y: float, w: float, h: float) -> dict[str, float]:
    return {"x": x, "y": y, "w": w, "h": h}


def test_object_interpolation_moves_a_box_linearly_between_key_frames(client: EncordUserClient, street: Street) -> None:
    project = client.get_project(street.project_hash)
    start = {"objectHash": "o1", "featureHash": street.car, "name": "Car", "boundingBox": box(0.1, 0.2, 0.2, 0.2)}
    end = {**start, "boundingBox": box(0.5, 0.6, 0.4, 0.2)}
    still = {"objectHash": "o2", "featureHash": street.person, "point": {"0": {"x": 0.5, "y": 0.5}}}

    frames = project.object_interpolation({"0": {"objects": [start, still]}, "10": {"objects": [end]}}, ["o1"])

    assert sorted(frames, key=int) == [str(n) for n in range(11)]
    (middle,) = frames["5"]["objects"]
    assert middle == {**start, "boundingBox": box(0.3, 0.4, 0.3, 0.2)}
    assert frames["1"]["objects"][0]["boundingBox"] == box(0.14, 0.24, 0.22, 0.2)
    assert [o["objectHash"] for o in frames["0"]["objects"]] == ["o1", "o2"]  # key frames as given


def test_object_interpolation_refuses_features_outside_the_ontology(client: EncordUserClient, street: Street) -> None:
    project = client.get_project(street.project_hash)
    alien = {"objectHash": "o1", "featureHash": "notmine1", "boundingBox": box(0, 0, 0.1, 0.1)}

    with pytest.raises(InvalidArgumentsError):
        project.object_interpolation({"0": {"objects": [alien]}, "2": {"objects": [alien]}}, ["o1"])


def test_bounding_box_fitting_encloses_a_polygon_on_the_pixel_grid(client: EncordUserClient, street: Street) -> None:
    triangle = {"0": {"x": 0.1, "y": 0.25}, "1": {"x": 0.5, "y": 0.1}, "2": {"x": 0.3, "y": 0.6}}
    labels = {"3": {"objects": [{"objectHash": "o1", "featureHash": street.road, "polygon": triangle}]}}

    fitted = legacy(
        client, street.project_hash, "labelingalgorithm", "POST", uid=str(uuid.uuid4()),
        payload={"algorithm_name": "fitted_bounding_box",
                 "algorithm_parameters": {"labels": labels, "video": {"width": 640, "height": 480}}},
    )  # fmt: skip
    odd = legacy(
        client, street.project_hash, "labelingalgorithm", "POST", uid=str(uuid.uuid4()),
        payload={"algorithm_name": "fitted_bounding_box",
                 "algorithm_parameters": {"labels": labels, "video": {"width": 3, "height": 3}}},
    )  # fmt: skip

    assert fitted == {
        "3": {"objects": [{"objectHash": "o1", "featureHash": street.road, "boundingBox": box(0.1, 0.1, 0.4, 0.5)}]}
    }
    # On a 3 by 3 grid the box widens to whole pixels: x 0.1..0.5 covers pixels 0..1, y 0.1..0.6 covers 0..1.
    assert odd["3"]["objects"][0]["boundingBox"] == box(0.0, 0.0, 0.666667, 0.666667)


def test_labelling_algorithms_are_refused_to_a_stranger(
    client: EncordUserClient, street: Street, sandbox: Sandbox, make_user: Any
) -> None:
    stranger = EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)
    frame = {"objects": [{"objectHash": "o1", "featureHash": street.car, "boundingBox": box(0, 0, 0.1, 0.1)}]}

    with pytest.raises((ResourceNotFoundError, AuthorisationError)):
        legacy(
            stranger, street.project_hash, "labelingalgorithm", "POST", uid=str(uuid.uuid4()),
            payload={"algorithm_name": "interpolation",
                     "algorithm_parameters": {"key_frames": {"0": frame}, "objects_to_interpolate": ["o1"]}},
        )  # fmt: skip
