"""Legacy models (M-01..M-06): model rows of a project, trained at once on its labels, used for inference.

The v1 model API of the seed-era SDK (`modelconfiguration`, `trainingmetadata`, `model` PUT/POST/DELETE). A model
row predicts features of the project's ontology; training is synchronous (the call answers the new iteration);
inference gives the deterministic predictions of ml_models.py. Labels are named as in ml_models.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import invalid, not_found, operation_not_allowed
from ..operations import ANY_KEY, V1Call, V1Key, V1Operation, V2Route, needs
from ..records import new_hash, now, v1_time
from ..store import Store, register_kind
from .ml_models import (
    BATCH_SIZES,
    EPOCHS,
    best,
    candidate,
    data_unit_of,
    decoded_bytes,
    detections,
    frame_range,
    labelled_unit,
    loss,
    object_id,
    threshold,
    uploaded_source,
)
from .projects import Project, editor_of

# ---- records -----------------------------------------------------------------------------------

# §6.12 "Legacy automation model": what each predicts, and the ontology shapes its features must have.
AUTOMATION_MODELS = {
    "fast_ai": "classification",
    **{name: "classification" for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")},
    "vgg16": "classification",
    "vgg19": "classification",
    "faster_rcnn": "objectDetection",
    "mask_rcnn": "segmentation",
}
FEATURE_SHAPES = {"classification": "classification", "objectDetection": "bounding_box", "segmentation": "polygon"}
DEVICES = ("cuda", "cpu")
# §6.12 "Legacy model operation" (`model_operation`).
INFERENCE, TRAIN, CREATE = 0, 1, 2


@register_kind("legacy_model", id="model_hash", parent="project_hash", parent_kinds=("project",))
@dataclass(kw_only=True)
class LegacyModel:
    model_hash: str
    project_hash: str
    title: str
    description: str
    features: list[str]
    model: str
    created_at: datetime

    @property
    def model_type(self) -> str:
        return AUTOMATION_MODELS[self.model]


@register_kind("legacy_model_iteration", id="model_iteration_uid", parent="model_hash", parent_kinds=("legacy_model",))
@dataclass(kw_only=True)
class LegacyModelIteration:
    model_iteration_uid: str
    model_hash: str
    created_at: datetime
    epochs: int
    batch_size: int
    device: str
    weights: dict[str, Any]
    labels: list[dict[str, Any]]

    @property
    def final_loss(self) -> float:
        return loss(self.epochs - 1)


# ---- rules -------------------------------------------------------------------------------------


def ontology_features(store: Store, project: Project) -> dict[str, dict[str, Any]]:
    """Features of the project's legacy ontology by hash: objects (with their shape) and classifications."""
    editor = editor_of(store, project)
    features = {
        o["featureNodeHash"]: {"name": o.get("name", ""), "shape": o.get("shape")}
        for o in editor.get("objects", [])
        if isinstance(o.get("featureNodeHash"), str)
    }
    for c in editor.get("classifications", []):
        if isinstance(c.get("featureNodeHash"), str):
            attributes = c.get("attributes") or [{}]
            features[c["featureNodeHash"]] = {"name": attributes[0].get("name", ""), "shape": "classification"}
    return features


def _model(store: Store, project: Project, model_hash: Any) -> LegacyModel:
    model = store.get(LegacyModel, model_hash) if isinstance(model_hash, str) else None
    if model is None or model.project_hash != project.hash:
        raise not_found("model", model_hash)
    return model


def _iteration(store: Store, project: Project, uid: Any) -> tuple[LegacyModelIteration, LegacyModel]:
    iteration = store.get(LegacyModelIteration, uid) if isinstance(uid, str) else None
    model = store.get(LegacyModel, iteration.model_hash) if iteration else None
    if iteration is None or model is None or model.project_hash != project.hash:
        raise not_found("model iteration", uid)
    return iteration, model


def _device(fields: dict[str, Any]) -> str:
    device = payloads.text(fields, "device")
    if device not in DEVICES:
        raise invalid("'device' must be cuda or cpu")
    return device


def _operation(fields: dict[str, Any], expected: tuple[int, ...]) -> int:
    operation = fields.get("model_operation")
    if operation not in expected or isinstance(operation, bool):
        raise invalid(f"'model_operation' must be {' or '.join(map(str, expected))} for this call")
    return int(operation)


def create_model(store: Store, project: Project, params: dict[str, Any]) -> LegacyModel:
    """M-03: features must be features of the project's ontology of the kind the architecture predicts."""
    architecture = payloads.text(params, "model")
    if architecture not in AUTOMATION_MODELS:
        raise invalid(f"'model' must be one of {', '.join(AUTOMATION_MODELS)}")
    features = payloads.text_list(params, "features")
    if not features:
        raise invalid("'features' must name at least one feature of the project's ontology")
    known, shape = ontology_features(store, project), FEATURE_SHAPES[AUTOMATION_MODELS[architecture]]
    for feature in features:
        if known.get(feature, {}).get("shape") != shape:
            raise invalid(f"{feature} is not a {shape} feature of the project's ontology")
    return store.put(
        LegacyModel(
            model_hash=new_hash(),
            project_hash=project.hash,
            title=payloads.text(params, "title", non_empty=True),
            description=payloads.text(params, "description", default=""),
            features=list(dict.fromkeys(features)),
            model=architecture,
            created_at=now(),
        )
    )


def train(store: Store, project: Project, model: LegacyModel, params: dict[str, Any]) -> LegacyModelIteration:
    """M-06: synchronous; the weights must be pretrained weights of the model's architecture."""
    label_rows = payloads.text_list(params, "label_rows")
    if not label_rows:
        raise invalid("'label_rows' must name at least one label of the project")
    weights = payloads.as_object(params.get("weights"), "weights")
    if payloads.text(weights, "model") != model.model:
        raise invalid(f"'weights' must be pretrained weights of a {model.model} model")
    payloads.text(weights, "training_weights_link", non_empty=True)
    labels = []
    for label in dict.fromkeys(label_rows):
        _, row = labelled_unit(store, [project], label)
        labels.append({"label_uid": label, "data_uid": row.data_hash, "data_link": row.file_link})
    return store.put(
        LegacyModelIteration(
            model_iteration_uid=new_hash(),
            model_hash=model.model_hash,
            created_at=now(),
            epochs=payloads.integer(params, "epochs", choices=EPOCHS),
            batch_size=payloads.integer(params, "batch_size", choices=BATCH_SIZES),
            device=_device(params),
            weights=dict(weights),
            labels=labels,
        )
    )


def infer(
    store: Store, project: Project, iteration: LegacyModelIteration, model: LegacyModel, params: dict[str, Any]
) -> dict[str, Any]:
    """M-05: predictions per input (file uid or data hash), then per frame; from ml_models' `candidate`, with the
    model's ontology feature hashes as features."""
    conf_thresh, iou_thresh = threshold(params, "conf_thresh"), threshold(params, "iou_thresh")
    threshold(params, "rdp_thresh")
    _device(params)
    tracked = payloads.flag(params, "allocation_enabled", default=False)
    files = params.get("files") or []
    data_hashes = params.get("data_hashes") or []
    if not isinstance(files, list) or not isinstance(data_hashes, list) or bool(files) == bool(data_hashes):
        raise invalid("give either 'files' or 'data_hashes'")
    window = params.get("detection_frame_range") or []
    if not isinstance(window, list) or len(window) not in (0, 2):
        raise invalid("'detection_frame_range' must be [] or [first, last]")
    inputs: list[tuple[str, str, int]] = []  # (answer key, prediction source, frames)
    for file in files:
        entry = payloads.as_object(file, "files[]")
        inputs.append(
            (payloads.text(entry, "uid"), uploaded_source(decoded_bytes(entry.get("base64_str"), "base64_str")), 1)
        )
    for data_hash in data_hashes:
        row = data_unit_of(store, project, data_hash)
        inputs.append((row.data_hash, row.data_hash, row.frames))
    names = {h: f["name"] for h, f in ontology_features(store, project).items()}
    kind = model.model_type
    result: dict[str, Any] = {}
    for key, source, frames in inputs:
        first, last = window or (None, None)
        chosen = frame_range(frames, first, last, "detection_frame_range")
        per_frame: dict[str, Any] = {}
        for frame in chosen:
            options = [candidate(iteration.model_iteration_uid, source, frame, f) for f in model.features]
            if kind == "classification":
                top = best(options, conf_thresh)
                found = [] if top is None else [top]
            else:
                found = detections(options, conf_thresh, iou_thresh)
            objects = []
            for c in found:
                item: dict[str, Any] = {
                    "featureHash": c.feature,
                    "name": names.get(c.feature, ""),
                    "confidence": c.confidence,
                }
                if kind != "classification":
                    item["objectHash"] = object_id(iteration.model_iteration_uid, source, frame, c.feature, tracked)
                if kind == "objectDetection":
                    item["boundingBox"] = {"x": c.x, "y": c.y, "w": c.w, "h": c.h}
                elif kind == "segmentation":
                    corners = [(c.x, c.y), (c.x + c.w, c.y), (c.x + c.w, c.y + c.h), (c.x, c.y + c.h)]
                    item["polygon"] = {str(i): {"x": round(x, 4), "y": round(y, 4)} for i, (x, y) in enumerate(corners)}
                objects.append(item)
            per_frame[str(frame)] = objects
        result[key] = per_frame
    return result


# ---- wire shapes -------------------------------------------------------------------------------


def model_v1(store: Store, project: Project, model: LegacyModel) -> dict[str, Any]:
    known = ontology_features(store, project)
    return {
        "model_uid": model.model_hash,
        "title": model.title,
        "description": model.description,
        "feature_node_hashes": {f: known.get(f, {}).get("name", "") for f in model.features},
        "model": model.model,
        "model_iteration_uids": [i.model_iteration_uid for i in store.children(LegacyModelIteration, model.model_hash)],
    }


def iteration_v1(iteration: LegacyModelIteration) -> dict[str, Any]:
    return {
        "model_hash": iteration.model_hash,
        "model_iteration_uid": iteration.model_iteration_uid,
        "created_at": v1_time(iteration.created_at),
        "epochs": iteration.epochs,
        "batch_size": iteration.batch_size,
        "training_final_loss": iteration.final_loss,
    }


def training_metadata_v1(
    iteration: LegacyModelIteration, model: LegacyModel, *, created_at: bool, final_loss: bool, labels: bool
) -> dict[str, Any]:
    """Every key is present; those not asked for are null (the SDK reads each one)."""
    return {
        "model_iteration_uid": iteration.model_iteration_uid,
        "created_at": v1_time(iteration.created_at) if created_at else None,
        "training_final_loss": iteration.final_loss if final_loss else None,
        "model_training_labels": (
            {"label_metadata_list": iteration.labels, "feature_uids": list(model.features)} if labels else None
        ),
    }


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_list_models(call: V1Call) -> list[dict[str, Any]]:
    project = call.resource_as(Project)
    return [model_v1(call.store, project, m) for m in call.store.children(LegacyModel, project.hash)]


def v1_training_metadata(call: V1Call) -> list[dict[str, Any]]:
    project, fields = call.resource_as(Project), call.fields
    flags = {
        "created_at": payloads.flag(fields, "get_created_at", default=False),
        "final_loss": payloads.flag(fields, "get_training_final_loss", default=False),
        "labels": payloads.flag(fields, "get_model_training_labels", default=False),
    }
    answers = []
    for uid in payloads.text_list(fields, "model_iteration_uids"):
        iteration, model = _iteration(call.store, project, uid)
        answers.append(training_metadata_v1(iteration, model, **flags))
    return answers


def v1_create_model(call: V1Call) -> str:
    _operation(call.fields, (CREATE,))
    params = payloads.as_object(call.fields.get("model_parameters"), "model_parameters")
    return create_model(call.store, call.resource_as(Project), params).model_hash


def v1_delete_model(call: V1Call) -> bool:
    model = _model(call.store, call.resource_as(Project), call.uid)
    for iteration in call.store.children(LegacyModelIteration, model.model_hash):
        call.store.delete(LegacyModelIteration, iteration.model_iteration_uid)
    call.store.delete(LegacyModel, model.model_hash)
    return True


def v1_train_or_infer(call: V1Call) -> Any:
    """`model POST` is two operations: inference (uid: a model iteration) and training (uid: a model row)."""
    operation = _operation(call.fields, (INFERENCE, TRAIN))
    project = call.resource_as(Project)
    params = payloads.as_object(call.fields.get("model_parameters"), "model_parameters")
    # One query type, two operations with scopes of their own (§6.4): the table lets any key through to here.
    scope = "model.train" if operation == TRAIN else "model.inference"
    if call.api_key is not None and scope not in call.api_key.scopes:
        raise operation_not_allowed(f"model POST with model_operation {operation} needs an API key with {scope}")
    if operation == TRAIN:
        return iteration_v1(train(call.store, project, _model(call.store, project, call.uid), params))
    iteration, model = _iteration(call.store, project, call.uid)
    return infer(call.store, project, iteration, model, params)


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "modelconfiguration", "GET"): V1Operation(v1_list_models, key=ANY_KEY),  # M-01
    ("project", "trainingmetadata", "GET"): V1Operation(v1_training_metadata, key=ANY_KEY),  # M-02
    ("project", "model", "PUT"): V1Operation(v1_create_model, key=needs("model.train")),  # M-03
    ("project", "model", "DELETE"): V1Operation(v1_delete_model, key=needs("model.train")),  # M-04
    ("project", "model", "POST"): V1Operation(v1_train_or_infer, key=ANY_KEY),  # M-05, M-06 (scope per operation)
}

V2: tuple[V2Route, ...] = ()
