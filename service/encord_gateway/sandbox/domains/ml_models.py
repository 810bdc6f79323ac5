"""ML models (M-10..M-17): an organisation's models and their trainings, attachments to projects, and predictions.

A training finishes after a few status polls (`TRAINING_STEPS`): every look at it, at once or while a long poll is
held, is one step of training. A finished training has weights the sandbox serves itself, at a link that carries
the right to download them. Predictions are deterministic, derived from the input by `prediction_digest` (documented
there so that a test can compute what to expect), and so are the legacy models' (models.py), which share them.

Labels to train on: the sandbox does not model label rows yet (label_rows.py), so a label of a data unit is named
by that data unit's hash; the data unit must belong to a dataset of one of the projects the training maps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid, not_found
from ..operations import NO_CONTENT, Held, NoContent, V1Key, V1Operation, V2Call, V2Route
from ..paging import page, page_size
from ..records import new_hash, now, v2_time
from ..resources import Resource, new_resource, require_admin, visible
from ..store import Store, register_kind
from .datasets import DataRow, Dataset
from .projects import Project, editor_of
from .users import User

# ---- records -----------------------------------------------------------------------------------

# §6.12: what each architecture predicts.
ARCHITECTURE_TYPES = {
    "fasterRcnn": "objectDetection",
    "maskRcnn": "segmentation",
    **{name: "classification" for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    "vgg16": "classification",
    "vgg19": "classification",
}
# The path segment of a prediction (M-17) and the model type it needs.
PREDICTION_KINDS = {
    "classification": "classification",
    "object-detection": "objectDetection",
    "instance-segmentation": "segmentation",
}
# The ontology feature type each model type maps to (§6.12 "v2 features mapping type").
FEATURE_TYPES = {
    "classification": ("classificationOption",),
    "objectDetection": ("boundingBox",),
    "segmentation": ("polygon",),
}
PRETRAINED_WEIGHTS = frozenset(
    {
        "fasterRcnnR101C43X", "fasterRcnnR101Dc53X", "fasterRcnnR101Fpn3X", "fasterRcnnR50C41X", "fasterRcnnR50C43X",
        "fasterRcnnR50Dc51X", "fasterRcnnR50Dc53X", "fasterRcnnR50Fpn1X", "fasterRcnnR50Fpn3X",
        "fasterRcnnX10132X8DFpn3X", "maskRcnnR101Fpn3X", "maskRcnnR50C41X", "maskRcnnR50C43X", "maskRcnnX10132X8DFpn3X",
    }
)  # fmt: skip
ITERATION_POLICIES = ("manualSelection", "useAll", "useLatest")
# A data unit's type (§6.6) as a storage item type.
ITEM_TYPES = {"VIDEO": "video", "IMAGE": "image", "IMG_GROUP": "imageGroup", "DICOM": "dicomSeries"}

TRAINING_STEPS = 3
"""Looks at a training's status it takes to finish: pending, pending, done when polled without waiting."""
MAX_HOLD_SECONDS = 60
"""The longest a status poll is held (the SDK never asks for more)."""
EPOCHS = range(1, 1001)
BATCH_SIZES = range(1, 4097)
WEIGHTS_PATH = "/files/ml-weights"
"""Where the sandbox serves trained weights, outside the API (a signed-URL download, §4.6)."""


@register_kind("ml_model", keys=("members",))
@dataclass(kw_only=True)
class MlModel(Resource):
    features: list[str]
    architecture: str

    @property
    def model_type(self) -> str:
        return ARCHITECTURE_TYPES[self.architecture]


@register_kind("ml_training", id="training_uuid", parent="model_uuid", parent_kinds=("ml_model",))
@dataclass(kw_only=True)
class MlTraining:
    """A training job of a model; once finished, an iteration of it. `examples` are its training-data items."""

    training_uuid: str
    model_uuid: str
    created_at: datetime
    batch_size: int
    epochs: int
    features_mapping: dict[str, dict[str, list[str]]]
    examples: list[dict[str, Any]]
    pretrained_training_uuid: str | None = None
    pretrained_weights_type: str | None = None
    steps: int = 0
    finished_at: datetime | None = None
    weights_token: str | None = None

    @property
    def done(self) -> bool:
        return self.finished_at is not None


@register_kind(
    "ml_model_attachment",
    id="project_model_uuid",
    parent="project_hash",
    parent_kinds=("project",),
    keys=("model_uuid",),
)
@dataclass(kw_only=True)
class MlModelAttachment:
    project_model_uuid: str
    project_hash: str
    model_uuid: str
    created_at: datetime
    iteration_policy: str
    features_mapping: dict[str, str]
    training_uuids: list[str] = field(default_factory=list)


# ---- rules: ontology features and labels (shared with the legacy models) -----------------------


def ontology_features(store: Store, project: Project) -> dict[str, dict[str, Any]]:
    """The features of the project's ontology a model can map to, by feature node hash: box and polygon objects, and
    the options of classifications (with the classification's hash as `parent`)."""
    editor = editor_of(store, project)
    features: dict[str, dict[str, Any]] = {}
    for obj in editor.get("objects", []):
        kind = {"bounding_box": "boundingBox", "polygon": "polygon"}.get(obj.get("shape"))
        if kind and isinstance(obj.get("featureNodeHash"), str):
            features[obj["featureNodeHash"]] = {
                "featureNodeUuid": obj["featureNodeHash"], "name": obj.get("name", ""), "type": kind,
                "color": obj.get("color"),
            }  # fmt: skip
    for classification in editor.get("classifications", []):
        for attribute in classification.get("attributes", []):
            for option in attribute.get("options", []):
                if isinstance(option.get("featureNodeHash"), str):
                    features[option["featureNodeHash"]] = {
                        "featureNodeUuid": option["featureNodeHash"], "name": option.get("label", ""),
                        "type": "classificationOption", "color": None, "value": option.get("value", ""),
                        "parent": classification.get("featureNodeHash", ""),
                    }  # fmt: skip
    return features


def labelled_unit(store: Store, projects: Iterable[Project], label_uuid: str) -> tuple[Project, DataRow]:
    """The project and data unit a training label names (a data unit's hash, see the module docstring)."""
    row = store.get(DataRow, label_uuid) if isinstance(label_uuid, str) else None
    for project in projects:
        if row is not None and row.dataset_hash in project.dataset_hashes:
            return project, row
    raise invalid(f"label {label_uuid} is not a label of the projects the training uses")


def data_unit_of(store: Store, project: Project, data_hash: Any) -> DataRow:
    """A data unit of one of the project's datasets, or not found."""
    row = store.get(DataRow, data_hash) if isinstance(data_hash, str) else None
    if row is None or row.dataset_hash not in project.dataset_hashes:
        raise not_found("data unit", data_hash)
    return row


def loss(epoch: int) -> float:
    """The training loss after an epoch: falling, as a training's should."""
    return round(1.0 / (epoch + 1), 4)


# ---- rules: predictions (shared with the legacy models) ----------------------------------------


def prediction_digest(training_uuid: str, source: str, frame: int, feature: str) -> bytes:
    """Everything a prediction says, derived from what it is made of: SHA-256 of "<training>:<source>:<frame>:<feature>"
    where source is the data unit's hash, or "sha256:<hex digest>" of uploaded bytes. Byte 0 / 255 is the confidence;
    bytes 1..4 make the box: x = b1/512, y = b2/512, w = 0.25 + b3/1024, h = 0.25 + b4/1024 (4 decimals)."""
    return hashlib.sha256(f"{training_uuid}:{source}:{frame}:{feature}".encode()).digest()


@dataclass(frozen=True)
class Candidate:
    """One feature's prediction on one frame."""

    feature: str
    confidence: float
    x: float
    y: float
    w: float
    h: float


def candidate(training_uuid: str, source: str, frame: int, feature: str) -> Candidate:
    d = prediction_digest(training_uuid, source, frame, feature)
    return Candidate(
        feature, round(d[0] / 255, 4), round(d[1] / 512, 4), round(d[2] / 512, 4),
        round(0.25 + d[3] / 1024, 4), round(0.25 + d[4] / 1024, 4),
    )  # fmt: skip


def _iou(a: Candidate, b: Candidate) -> float:
    width = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    height = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    overlap = max(0.0, width) * max(0.0, height)
    return overlap / (a.w * a.h + b.w * b.h - overlap)


def detections(candidates: Sequence[Candidate], conf_thresh: float, iou_thresh: float) -> list[Candidate]:
    """The candidates at least `conf_thresh` confident, most confident first, dropping any that overlaps a kept one by
    more than `iou_thresh` (non-maximum suppression)."""
    kept: list[Candidate] = []
    for c in sorted((c for c in candidates if c.confidence >= conf_thresh), key=lambda c: -c.confidence):
        if all(_iou(c, k) <= iou_thresh for k in kept):
            kept.append(c)
    return kept


def best(candidates: Sequence[Candidate], conf_thresh: float) -> Candidate | None:
    """A classification: the most confident candidate, if confident enough (ties: the first)."""
    confident = [c for c in candidates if c.confidence >= conf_thresh]
    return max(confident, key=lambda c: c.confidence) if confident else None


def object_id(training_uuid: str, source: str, frame: int, feature: str, tracked: bool) -> str:
    """An object's identity: the same on every frame when objects are tracked (allocation enabled)."""
    seed = f"{training_uuid}:{source}:{feature}" if tracked else f"{training_uuid}:{source}:{frame}:{feature}"
    return str(uuid.UUID(bytes=hashlib.sha256(seed.encode()).digest()[:16], version=4))


def decoded_bytes(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise invalid(f"'{what}' must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"'{what}' is not valid base64") from None


def uploaded_source(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def frame_range(frames: int, first: Any, last: Any, what: str) -> range:
    """The frames asked for (all by default) of a unit with `frames` frames."""
    start = 0 if first is None else first
    end = frames - 1 if last is None else last
    for value in (start, end):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < frames:
            raise invalid(f"{what} must be frames from 0 to {frames - 1}")
    if start > end:
        raise invalid(f"{what}: the first frame is after the last")
    return range(start, end + 1)


def threshold(fields: dict[str, Any], key: str) -> float:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise invalid(f"'{key}' must be a number from 0 to 1")
    return float(value)


# ---- rules: models and trainings ---------------------------------------------------------------


def _model(store: Store, user: User, model_uuid: Any) -> MlModel:
    return visible(store, MlModel, model_uuid, user)


def _training(store: Store, model: MlModel, training_uuid: Any) -> MlTraining:
    training = store.get(MlTraining, training_uuid) if isinstance(training_uuid, str) else None
    if training is None or training.model_uuid != model.hash:
        raise not_found("training", training_uuid)
    return training


def iterations(store: Store, model: MlModel) -> list[MlTraining]:
    """The model's finished trainings, oldest first."""
    return [t for t in store.children(MlTraining, model.hash) if t.done]


def create_model(store: Store, user: User, fields: dict[str, Any]) -> MlModel:
    features = payloads.text_list(fields, "features")
    if not features or len(set(features)) != len(features) or not all(f.strip() for f in features):
        raise invalid("'features' must be distinct, non-empty feature names")
    architecture = payloads.text(fields, "model")
    if architecture not in ARCHITECTURE_TYPES:
        raise invalid(f"'model' must be one of {', '.join(ARCHITECTURE_TYPES)}")
    description = payloads.optional_text(fields, "description") or ""
    title = payloads.text(fields, "title", non_empty=True)
    return store.put(MlModel(**new_resource(title, description, user), features=features, architecture=architecture))


def _features_mapping(store: Store, user: User, model: MlModel, value: Any) -> tuple[list[Project], dict[str, Any]]:
    """M-13's {project: {ontology feature: [model features]}}, checked against the projects' ontologies."""
    mapping = payloads.as_object(value, "featuresMapping")
    if not mapping:
        raise invalid("'featuresMapping' must map at least one project")
    projects = []
    for project_hash, features in mapping.items():
        project = visible(store, Project, project_hash, user)
        known = ontology_features(store, project)
        for ontology_feature, model_features in payloads.as_object(features, f"featuresMapping.{project_hash}").items():
            feature = known.get(ontology_feature)
            if feature is None or feature["type"] not in FEATURE_TYPES[model.model_type]:
                raise invalid(f"{ontology_feature} is not a {model.model_type} feature of project {project_hash}")
            names = model_features if isinstance(model_features, list) else []
            if not names or not all(isinstance(n, str) and n in model.features for n in names):
                raise invalid(f"{ontology_feature} must map to features of the model: {', '.join(model.features)}")
        projects.append(project)
    return projects, mapping


def create_training(store: Store, user: User, model: MlModel, fields: dict[str, Any]) -> MlTraining:
    """M-13: a pending training over labels of the mapped projects."""
    require_admin(model, user)
    projects, mapping = _features_mapping(store, user, model, fields.get("featuresMapping"))
    label_uuids = payloads.text_list(fields, "labelsUuids")
    if not label_uuids:
        raise invalid("'labelsUuids' must name at least one label")
    examples = []
    for label_uuid in dict.fromkeys(label_uuids):
        project, row = labelled_unit(store, projects, label_uuid)
        dataset = store.get(Dataset, row.dataset_hash)
        examples.append({
            "dataUuid": row.data_hash, "datasetTitle": dataset.title if dataset else "",
            "datasetUuid": row.dataset_hash, "fileTitle": row.title, "itemType": ITEM_TYPES[row.data_type],
            "labelUuid": label_uuid, "projectTitle": project.title, "projectUuid": project.hash,
        })  # fmt: skip
    pretrained = payloads.optional_text(fields, "pretrainedTrainingUuid")
    if pretrained is not None and not _training(store, model, pretrained).done:
        raise invalid(f"training {pretrained} has not finished; it cannot be trained on")
    weights = payloads.optional_text(fields, "pretrainedWeightsType")
    if weights is not None and weights not in PRETRAINED_WEIGHTS:
        raise invalid(f"'pretrainedWeightsType' must be one of {', '.join(sorted(PRETRAINED_WEIGHTS))}")
    return store.put(
        MlTraining(
            training_uuid=new_hash(),
            model_uuid=model.hash,
            created_at=now(),
            batch_size=payloads.integer(fields, "batchSize", choices=BATCH_SIZES),
            epochs=payloads.integer(fields, "epochs", choices=EPOCHS),
            features_mapping=mapping,
            examples=examples,
            pretrained_training_uuid=pretrained,
            pretrained_weights_type=weights,
        )
    )


def advance(store: Store, training: MlTraining) -> None:
    """One step of training; the last one finishes it and makes its weights downloadable."""
    if training.done:
        return
    training.steps += 1
    if training.steps >= TRAINING_STEPS:
        training.finished_at = now()
        training.weights_token = secrets.token_urlsafe(24)
    store.put(training)


def delete_model(store: Store, user: User, model: MlModel) -> None:
    require_admin(model, user)
    for training in store.children(MlTraining, model.hash):
        store.delete(MlTraining, training.training_uuid)
    for attachment in store.find(MlModelAttachment, "model_uuid", model.hash):
        store.delete(MlModelAttachment, attachment.project_model_uuid)
    store.delete(MlModel, model.hash)


def delete_training(store: Store, user: User, model: MlModel, training: MlTraining) -> None:
    """Also drops it from the attachments that selected it."""
    require_admin(model, user)
    store.delete(MlTraining, training.training_uuid)
    for attachment in store.find(MlModelAttachment, "model_uuid", model.hash):
        if training.training_uuid in attachment.training_uuids:
            attachment.training_uuids.remove(training.training_uuid)
            store.put(attachment)


def weights_file(store: Store, training_uuid: str, token: str) -> bytes | None:
    """The weights a finished training's link downloads, or None when the link is not (or no longer) valid."""
    training = store.get(MlTraining, training_uuid)
    if training is None or training.weights_token is None or not secrets.compare_digest(training.weights_token, token):
        return None
    model = store.get(MlModel, training.model_uuid)
    document = {
        "format": "encord-sandbox-weights", "modelUuid": training.model_uuid, "trainingUuid": training_uuid,
        "architecture": model.architecture if model else None, "features": model.features if model else [],
        "epochs": training.epochs, "batchSize": training.batch_size,
    }  # fmt: skip
    return json.dumps(document).encode("utf-8")


def _search(model: MlModel, query: str | None) -> bool:
    text = (query or "").casefold()
    return text in model.title.casefold() or text in model.description.casefold()


def _ordered_page(
    call: V2Call, rows: list[MlModel], key: Callable[[MlModel], list[str]], ascending: bool
) -> tuple[list[MlModel], str | None]:
    """One page of rows in the caller's order; the token is the last row's sort key (a keyset, as paging.py's)."""
    rows = sorted(rows, key=key, reverse=not ascending)
    token = call.query.get("pageToken")
    if token:
        try:
            position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (binascii.Error, ValueError):
            raise invalid("pageToken is not a token this server issued") from None
        if not isinstance(position, list) or not all(isinstance(part, str) for part in position):
            raise invalid("pageToken is not a token this server issued")
        rows = [r for r in rows if (key(r) > position if ascending else key(r) < position)]
    size = page_size(call)
    chunk = rows[:size]
    if len(rows) <= size:
        return chunk, None
    return chunk, base64.urlsafe_b64encode(json.dumps(key(chunk[-1])).encode()).decode().rstrip("=")


# ---- rules: attachments and predictions --------------------------------------------------------


def _attachment_fields(
    store: Store, project: Project, model: MlModel, fields: dict[str, Any]
) -> tuple[str, dict[str, str], list[str]]:
    """Iteration policy, features mapping and selected trainings of an attachment, checked."""
    policy = payloads.text(fields, "iterationPolicy")
    if policy not in ITERATION_POLICIES:
        raise invalid(f"'iterationPolicy' must be one of {', '.join(ITERATION_POLICIES)}")
    mapping = payloads.as_object(fields.get("featuresMapping"), "featuresMapping")
    if not mapping:
        raise invalid("'featuresMapping' must map at least one model feature")
    known = ontology_features(store, project)
    for model_feature, ontology_feature in mapping.items():
        if model_feature not in model.features:
            raise invalid(f"{model_feature} is not a feature of the model")
        feature = known.get(ontology_feature) if isinstance(ontology_feature, str) else None
        if feature is None or feature["type"] not in FEATURE_TYPES[model.model_type]:
            raise invalid(f"{ontology_feature} is not a {model.model_type} feature of the project's ontology")
    selected = payloads.text_list(fields, "trainingUuids", default=[])
    if policy == "manualSelection":
        if not selected:
            raise invalid("'trainingUuids' must name the iterations to use with manualSelection")
        for training_uuid in selected:
            if not _training(store, model, training_uuid).done:
                raise invalid(f"training {training_uuid} has not finished")
    elif selected:
        raise invalid("'trainingUuids' is only for the manualSelection policy")
    return policy, mapping, list(dict.fromkeys(selected))


def attached_iterations(store: Store, model: MlModel, attachment: MlModelAttachment) -> list[MlTraining]:
    """The iterations the project uses, as its policy says."""
    done = iterations(store, model)
    if attachment.iteration_policy == "useLatest":
        return done[-1:]
    if attachment.iteration_policy == "manualSelection":
        return [t for t in done if t.training_uuid in attachment.training_uuids]
    return done


def _attachment(store: Store, project: Project, project_model_uuid: str) -> tuple[MlModelAttachment, MlModel]:
    attachment = store.get(MlModelAttachment, project_model_uuid)
    model = store.get(MlModel, attachment.model_uuid) if attachment else None
    if attachment is None or model is None or attachment.project_hash != project.hash:
        raise not_found("model attachment", project_model_uuid)
    return attachment, model


def predict(
    call: V2Call, project: Project, attachment: MlModelAttachment, model: MlModel, training: MlTraining, kind: str
) -> dict[str, Any]:
    """M-17: per frame, a classification (or null) or the detected objects or instances."""
    fields = call.json_object()
    conf_thresh = threshold(fields, "confThresh")
    data_uuid, data = fields.get("dataUuid"), fields.get("dataBase64")
    if (data_uuid is None) == (data is None):
        raise invalid("give exactly one of 'dataUuid' and 'dataBase64'")
    if data_uuid is not None:
        row = data_unit_of(call.store, project, data_uuid)
        source, frames = row.data_hash, row.frames
    else:
        source, frames = uploaded_source(decoded_bytes(data, "dataBase64")), 1
    chosen = frame_range(frames, fields.get("frameRangeFrom"), fields.get("frameRangeTo"), "frameRangeFrom/To")
    known = ontology_features(call.store, project)
    # Model feature → the ontology feature it maps to (a feature whose ontology feature is gone predicts nothing).
    features = {
        f: known[attachment.features_mapping[f]] for f in model.features if attachment.features_mapping.get(f) in known
    }
    iou_thresh, tracked = 1.0, False
    if kind != "classification":
        iou_thresh = threshold(fields, "iouThresh")
        tracked = payloads.flag(fields, "allocationEnabled", default=False)
        if fields.get("rdpThresh") is not None:
            threshold(fields, "rdpThresh")
    made, by = v2_time(now()), call.user.email
    result: dict[str, Any] = {}
    for frame in chosen:
        options = [candidate(training.training_uuid, source, frame, name) for name in features]
        if kind == "classification":
            top = best(options, conf_thresh)
            result[str(frame)] = None if top is None else {
                "classificationUuid": object_id(training.training_uuid, source, frame, top.feature, False),
                "confidence": top.confidence, "createdAt": made, "createdBy": by,
                "featureIdChild": features[top.feature]["featureNodeUuid"],
                "featureIdParent": features[top.feature]["parent"], "manualAnnotation": False,
                "name": features[top.feature]["name"], "value": features[top.feature]["value"],
            }  # fmt: skip
            continue
        objects = []
        for c in detections(options, conf_thresh, iou_thresh):
            feature = features[c.feature]
            item = {
                "color": feature["color"] or "#000000", "confidence": c.confidence, "createdAt": made,
                "createdBy": by, "featureId": feature["featureNodeUuid"], "manualAnnotation": False,
                "name": feature["name"], "objectId": object_id(training.training_uuid, source, frame, c.feature, tracked),
                "value": feature["name"].casefold().replace(" ", "_"),
            }  # fmt: skip
            if kind == "object-detection":
                item["boundingBox"] = {"h": c.h, "w": c.w, "x": c.x, "y": c.y}
            else:
                corners = [(c.x, c.y), (c.x + c.w, c.y), (c.x + c.w, c.y + c.h), (c.x, c.y + c.h)]
                item["polygon"] = [{"x": round(x, 4), "y": round(y, 4)} for x, y in corners]
            objects.append(item)
        result[str(frame)] = objects
    return {"result": result}


# ---- wire shapes -------------------------------------------------------------------------------


def model_group_v2(model: MlModel) -> dict[str, Any]:
    return {
        "createdAt": v2_time(model.created_at), "description": model.description, "features": list(model.features),
        "model": model.architecture, "modelUuid": model.hash, "title": model.title, "type": model.model_type,
    }  # fmt: skip


def iteration_v2(training: MlTraining) -> dict[str, Any]:
    finished = training.finished_at or training.created_at
    return {
        "batchSize": training.batch_size,
        "createdAt": v2_time(training.created_at),
        "duration": int((finished - training.created_at).total_seconds()),
        "epochs": training.epochs,
        "lossLog": {str(epoch): loss(epoch) for epoch in range(training.epochs)},
        "trainingUuid": training.training_uuid,
    }


def model_v2(store: Store, model: MlModel) -> dict[str, Any]:
    return {"modelGroup": model_group_v2(model), "modelIterations": [iteration_v2(t) for t in iterations(store, model)]}


def training_status_v2(training: MlTraining) -> dict[str, Any]:
    if training.done:
        return {"status": "done", "result": iteration_v2(training)}
    return {"status": "pending"}


def attachment_v2(store: Store, attachment: MlModelAttachment, model: MlModel) -> dict[str, Any]:
    project = store.get(Project, attachment.project_hash)
    known = ontology_features(store, project) if project is not None else {}
    mapping = {
        model_feature: {key: known[hash_][key] for key in ("featureNodeUuid", "name", "type", "color")}
        for model_feature, hash_ in attachment.features_mapping.items()
        if hash_ in known
    }
    return {
        "modelGroup": model_group_v2(model),
        "projectModel": {
            "createdAt": v2_time(attachment.created_at), "iterationPolicy": attachment.iteration_policy,
            "modelUuid": model.hash, "projectModelUuid": attachment.project_model_uuid,
            "projectUuid": attachment.project_hash, "featuresMapping": mapping,
        },
        "projectModelIterations": [iteration_v2(t) for t in attached_iterations(store, model, attachment)],
    }  # fmt: skip


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_create_model(call: V2Call) -> dict[str, Any]:
    return model_v2(call.store, create_model(call.store, call.user, call.json_object()))


def v2_get_model(call: V2Call) -> dict[str, Any]:
    return model_v2(call.store, _model(call.store, call.user, call.params["model_uuid"]))


def v2_update_model(call: V2Call) -> dict[str, Any]:
    model = _model(call.store, call.user, call.params["model_uuid"])
    require_admin(model, call.user)
    fields = call.json_object()
    title, description = payloads.optional_text(fields, "title"), payloads.optional_text(fields, "description")
    if title is not None:
        model.title = payloads.text(fields, "title", non_empty=True)
    if description is not None:
        model.description = description
    model.touch()
    return model_v2(call.store, call.store.put(model))


def v2_delete_model(call: V2Call) -> NoContent:
    delete_model(call.store, call.user, _model(call.store, call.user, call.params["model_uuid"]))
    return NO_CONTENT


def v2_list_models(call: V2Call) -> dict[str, Any]:
    order_by = call.query.get("orderBy", "createdAt")
    if order_by not in ("createdAt", "title"):
        raise invalid("orderBy must be createdAt or title")
    query = call.query.get("query")
    rows = [m for m in call.store.find(MlModel, "members", call.user.email) if _search(m, query)]

    def key(m: MlModel) -> list[str]:
        created = f"{m.created_at:%Y-%m-%dT%H:%M:%S.%f}"
        return [m.title.casefold(), created, m.hash] if order_by == "title" else [created, m.hash]

    chunk, next_token = _ordered_page(call, rows, key, call.flag("orderAsc", False))
    return {"results": [model_v2(call.store, m) for m in chunk], "nextPageToken": next_token}


def v2_create_training(call: V2Call) -> str:
    model = _model(call.store, call.user, call.params["model_uuid"])
    return create_training(call.store, call.user, model, call.json_object()).training_uuid


def v2_get_training_status(call: V2Call) -> Any:
    """M-14, a long poll: each look is a step of training; a pending answer is held while the caller waits."""
    model = _model(call.store, call.user, call.params["model_uuid"])
    training = _training(call.store, model, call.params["training_uuid"])
    raw = call.query.get("timeoutSeconds", "0")
    if not raw.isdigit():
        raise invalid("timeoutSeconds must be a whole number of seconds")
    advance(call.store, training)
    answer = training_status_v2(training)
    wait = min(int(raw), MAX_HOLD_SECONDS)
    return answer if training.done or wait == 0 else Held(answer, wait)


def v2_list_training_data(call: V2Call) -> dict[str, Any]:
    model = _model(call.store, call.user, call.params["model_uuid"])
    examples = _training(call.store, model, call.params["training_uuid"]).examples
    token = call.query.get("pageToken") or "0"
    if not token.isdigit() or int(token) > len(examples):
        raise invalid("pageToken is not a token this server issued")
    start, size = int(token), page_size(call)
    following = start + size if start + size < len(examples) else None
    # The examples of a training never change, so an offset is a stable position.
    return {"results": examples[start : start + size], "nextPageToken": None if following is None else str(following)}


def v2_get_weights_link(call: V2Call) -> str:
    model = _model(call.store, call.user, call.params["model_uuid"])
    training = _training(call.store, model, call.params["training_uuid"])
    if training.weights_token is None:
        raise invalid(f"training {training.training_uuid} has not finished; it has no weights yet")
    return f"{call.origin}{WEIGHTS_PATH}/{training.training_uuid}?token={training.weights_token}"


def v2_delete_training(call: V2Call) -> NoContent:
    model = _model(call.store, call.user, call.params["model_uuid"])
    delete_training(call.store, call.user, model, _training(call.store, model, call.params["training_uuid"]))
    return NO_CONTENT


def v2_create_attachment(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    require_admin(project, call.user)
    fields = call.json_object()
    model = _model(call.store, call.user, payloads.text(fields, "modelUuid"))
    if any(a.project_hash == project.hash for a in call.store.find(MlModelAttachment, "model_uuid", model.hash)):
        raise ApiError("RESOURCE_EXISTS_ERROR", f"model {model.hash} is already attached to the project")
    policy, mapping, selected = _attachment_fields(call.store, project, model, fields)
    attachment = MlModelAttachment(
        project_model_uuid=new_hash(),
        project_hash=project.hash,
        model_uuid=model.hash,
        created_at=now(),
        iteration_policy=policy,
        features_mapping=mapping,
        training_uuids=selected,
    )
    return attachment_v2(call.store, call.store.put(attachment), model)


def v2_list_attachments(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)

    def render(attachment: MlModelAttachment) -> dict[str, Any]:
        model = call.store.get(MlModel, attachment.model_uuid)
        assert model is not None  # deleting a model deletes its attachments
        return attachment_v2(call.store, attachment, model)

    return page(call, call.store.children(MlModelAttachment, project.hash), render)


def v2_update_attachment(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    require_admin(project, call.user)
    attachment, model = _attachment(call.store, project, call.params["project_model_uuid"])
    policy, mapping, selected = _attachment_fields(call.store, project, model, call.json_object())
    attachment.iteration_policy, attachment.features_mapping, attachment.training_uuids = policy, mapping, selected
    return attachment_v2(call.store, call.store.put(attachment), model)


def v2_delete_attachment(call: V2Call) -> NoContent:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    require_admin(project, call.user)
    attachment, _ = _attachment(call.store, project, call.params["project_model_uuid"])
    call.store.delete(MlModelAttachment, attachment.project_model_uuid)
    return NO_CONTENT


def v2_predict(call: V2Call) -> dict[str, Any]:
    project = visible(call.store, Project, call.params["project_hash"], call.user)
    attachment, model = _attachment(call.store, project, call.params["project_model_uuid"])
    kind = call.params["kind"]
    if kind not in PREDICTION_KINDS:
        raise ApiError("RESOURCE_NOT_FOUND_ERROR", f"no such prediction: {kind}")
    if PREDICTION_KINDS[kind] != model.model_type:
        raise invalid(f"a {model.model_type} model cannot make {kind} predictions")
    training = _training(call.store, model, call.params["training_uuid"])
    if training not in attached_iterations(call.store, model, attachment):
        raise invalid(f"the project does not use iteration {training.training_uuid} of the model")
    return predict(call, project, attachment, model, training, kind)


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {}

V2: tuple[V2Route, ...] = (
    V2Route("POST", "ml-models", v2_create_model),  # M-10
    V2Route("GET", "ml-models", v2_list_models),  # M-12
    V2Route("GET", "ml-models/{model_uuid}", v2_get_model),  # M-11
    V2Route("PATCH", "ml-models/{model_uuid}", v2_update_model),  # M-11
    V2Route("DELETE", "ml-models/{model_uuid}", v2_delete_model),  # M-11
    V2Route("POST", "ml-models/{model_uuid}/trainings", v2_create_training),  # M-13
    V2Route("GET", "ml-models/{model_uuid}/iterations/{training_uuid}/training", v2_get_training_status),  # M-14
    V2Route("GET", "ml-models/{model_uuid}/iterations/{training_uuid}/training-data", v2_list_training_data),  # M-15
    V2Route("GET", "ml-models/{model_uuid}/iterations/{training_uuid}/weights-link", v2_get_weights_link),  # M-15
    V2Route("DELETE", "ml-models/{model_uuid}/iterations/{training_uuid}", v2_delete_training),  # M-15
    V2Route("POST", "projects/{project_hash}/models-attachments", v2_create_attachment),  # M-16
    V2Route("GET", "projects/{project_hash}/models-attachments", v2_list_attachments),  # M-16
    V2Route("PATCH", "projects/{project_hash}/models-attachments/{project_model_uuid}", v2_update_attachment),  # M-16
    V2Route("DELETE", "projects/{project_hash}/models-attachments/{project_model_uuid}", v2_delete_attachment),  # M-16
    V2Route(  # M-17
        "POST",
        "projects/{project_hash}/models-attachments/{project_model_uuid}/iterations/{training_uuid}/{kind}/predict",
        v2_predict,
    ),
)
