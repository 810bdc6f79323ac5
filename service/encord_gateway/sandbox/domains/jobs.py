"""Long-running jobs (J-01..J-06L): DICOM de-identification and CVAT import, started once and long-polled (§4.5).

A job works only while someone looks at it: every look (a poll, or another glance while a poll is held) does
one step of work, so a job is done after a few polls, held or not, and tests never wait on a clock. A job's
work grows with its size (files, images). A poll with `timeoutSeconds=0` looks once and answers; a longer one
is held (the server looks again every little while, see `operations.Held`) until the job ends or the time is up. The legacy v1 calls
(J-03L, J-06L) do the same work at once and answer with its result.

Submitting the same job again (same user, same request) answers the same job rather than starting another: the
SDK never retries these starts, and §4.4 lets a sandbox make such creations idempotent. It also makes a job's
UUID, which travels in the poll's path, the same for two clients doing the same thing (the wire-equality suite).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import payloads
from ..errors import invalid, not_found
from ..operations import Held, V1Call, V1Key, V1Operation, V2Call, V2Route
from ..records import new_hash, now
from ..resources import require_admin, visible
from ..store import Store, register_kind
from .datasets import MIME_TYPES, DataRow, Dataset, data_rows_of
from .ontologies import create_ontology
from .projects import create_project
from .users import User

# ---- records -----------------------------------------------------------------------------------

PENDING, DONE, ERROR = "PENDING", "DONE", "ERROR"  # §6.8, for both kinds of job

LOOKS_TO_FINISH = 3
"""Looks a small job takes: two polls answer PENDING, the third the result."""
UNITS_PER_LOOK = 100
"""Files or images one look gets through beyond the first LOOKS_TO_FINISH: large jobs take longer."""
"""How often a held poll looks at its job again."""

# Pixel-text redaction and save conditions (§6.12): the current API's spelling, and the legacy one.
REDACT_MODES = ("redactAllText", "redactNoText", "redactSensitiveText")
LEGACY_REDACT_MODES = ("REDACT_ALL_TEXT", "REDACT_NO_TEXT", "REDACT_SENSITIVE_TEXT")
CONDITION_TYPES = ("notSubstr", "in")
LEGACY_CONDITION_TYPES = ("NOT_SUBSTR", "IN")
# Where de-identification can read DICOM files: cloud buckets reachable through an integration.
OBJECT_URL_SCHEMES = ("https", "http", "s3", "gs", "az")

REVIEW_MODES = ("unlabelled", "labelled", "reviewed")  # §6.9, both APIs
EXPORT_TYPES = ("project", "task")


@register_kind("dicom_deidentification", id="uuid")
@dataclass(kw_only=True)
class DicomDeidentification:
    """A de-identification job (J-01): files in a bucket behind an integration, copied without identifying tags."""

    uuid: str
    owner: str
    integration_uuid: str
    dicom_urls: list[str]
    redact_dicom_tags: bool
    redact_pixels_mode: str
    save_conditions: list[dict[str, Any]]
    upload_dir: str | None
    created_at: datetime
    looks_left: int
    status: str = PENDING
    urls: list[str] = field(default_factory=list)


@register_kind("cvat_import", id="uuid")
@dataclass(kw_only=True)
class CvatImport:
    """A CVAT import (J-04): an annotations.xml and the images already uploaded for it, into a new project."""

    uuid: str
    owner: str
    dataset_hash: str
    annotations: str
    review_mode: str
    data: list[dict[str, str]]
    transform_bounding_boxes_to_polygons: bool
    created_at: datetime
    looks_left: int
    status: str = PENDING
    project_hash: str | None = None
    issues: dict[str, Any] | None = None


# ---- rules: de-identification ------------------------------------------------------------------


JOB_NAMESPACE = uuid.UUID("5b0f6a52-7d1e-4c1b-9a43-2f6a0c1d7e90")


def _looks_needed(units: int) -> int:
    return LOOKS_TO_FINISH + units // UNITS_PER_LOOK


def job_uuid(kind: str, user: User, request: Any) -> str:
    """The one UUID of a user's job of this kind with this request (see the module doc)."""
    return str(uuid.uuid5(JOB_NAMESPACE, json.dumps([kind, user.email, request], sort_keys=True)))


def save_conditions(value: Any, *, legacy: bool) -> list[dict[str, Any]]:
    """Conditions on DICOM tags a de-identified file must meet to be saved; checked, then kept as sent.

    The sandbox holds no DICOM files, so it cannot read their tags: every file is taken to meet them.
    """
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
        raise invalid("save conditions must be a list of objects")
    kinds, type_key, tag_key = (
        (LEGACY_CONDITION_TYPES, "condition_type", "dicom_tag")
        if legacy
        else (CONDITION_TYPES, "conditionType", "dicomTag")
    )
    for condition in value:
        kind = condition.get(type_key)
        if kind not in kinds:
            raise invalid(f"'{type_key}' must be one of {', '.join(kinds)}")
        payloads.text(condition, tag_key, non_empty=True)
        wanted = condition.get("value")
        if kind in ("in", "IN"):
            payloads.text_list(condition, "value")
        elif not isinstance(wanted, str):
            raise invalid(f"'value' of a {kind} condition must be a string")
    return list(value)


def _object_path(url: str) -> tuple[urllib.parse.SplitResult, str, str]:
    """(parts, directory, file name) of a DICOM file's URL; ValueError when it names no object in a bucket."""
    parts = urllib.parse.urlsplit(url)
    directory, _, name = parts.path.rpartition("/")
    if parts.scheme not in OBJECT_URL_SCHEMES or not parts.netloc or not name:
        raise ValueError(f"{url!r} is not the URL of a file in a cloud bucket")
    return parts, directory, name


def deidentified_urls(urls: list[str], upload_dir: str | None, stamp: int) -> list[str]:
    """Where the copies go: `deid_<timestamp>_<name>` next to each source, or in `upload_dir` when set (a URL, or
    a directory in the source's bucket). ValueError for a URL that names no file in a bucket."""
    outputs = []
    for url in urls:
        parts, directory, name = _object_path(url)
        copy = f"deid_{stamp}_{name}"
        if upload_dir and "://" in upload_dir:
            outputs.append(f"{upload_dir.rstrip('/')}/{copy}")
            continue
        if upload_dir:
            directory = "/" + upload_dir.strip("/")
        outputs.append(urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"{directory}/{copy}", "", "")))
    return outputs


def start_deidentification(store: Store, user: User, body: dict[str, Any]) -> DicomDeidentification:
    """J-01. The files are read when the job runs, so a URL that names no file makes the job fail, not the start."""
    integration = payloads.text(body, "integrationUuid", non_empty=True)
    if not is_uuid(integration):
        raise invalid("'integrationUuid' must be a UUID")
    urls = payloads.text_list(body, "dicomUrls")
    if not urls:
        raise invalid("'dicomUrls' must name at least one file")
    mode = payloads.text(body, "redactPixelsMode", default="redactNoText")
    if mode not in REDACT_MODES:
        raise invalid(f"'redactPixelsMode' must be one of {', '.join(REDACT_MODES)}")
    job = DicomDeidentification(
        uuid="",
        owner=user.email,
        integration_uuid=integration,
        dicom_urls=urls,
        redact_dicom_tags=payloads.flag(body, "redactDicomTags", default=True),
        redact_pixels_mode=mode,
        save_conditions=save_conditions(body.get("saveConditions"), legacy=False),
        upload_dir=payloads.optional_text(body, "uploadDir"),
        created_at=now(),
        looks_left=_looks_needed(len(urls)),
    )
    job.uuid = job_uuid("dicom_deidentification", user, [integration, urls, job.redact_dicom_tags, mode,
                                                         job.save_conditions, job.upload_dir])  # fmt: skip
    return store.get(DicomDeidentification, job.uuid) or store.put(job)


def _finish_deidentification(job: DicomDeidentification) -> None:
    try:
        job.urls = deidentified_urls(job.dicom_urls, job.upload_dir, time.time_ns())
        job.status = DONE
    except ValueError:
        job.status = ERROR  # Encord says no more than that (the SDK asks the user to contact support)


# ---- rules: CVAT import -----------------------------------------------------------------------


UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(text: str) -> bool:
    """Encord's hashes and UUIDs: canonical 8-4-4-4-12 text."""
    return UUID_TEXT.fullmatch(text) is not None


def decode_annotations(text: str) -> str:
    """The annotations.xml carried as base64 (both APIs)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        raise invalid("the annotations must be the base64 of a UTF-8 annotations.xml") from None


def _importable_dataset(store: Store, user: User, dataset_hash: str) -> Dataset:
    dataset = visible(store, Dataset, dataset_hash, user)
    require_admin(dataset, user)
    return dataset


def start_cvat_import(store: Store, user: User, body: dict[str, Any]) -> CvatImport:
    """J-04: the images were uploaded beforehand (presigned URLs); `data` says which export path each one is."""
    dataset = _importable_dataset(store, user, payloads.text(body, "datasetUuid", non_empty=True))
    review_mode = payloads.text(body, "reviewMode")
    if review_mode not in REVIEW_MODES:
        raise invalid(f"'reviewMode' must be one of {', '.join(REVIEW_MODES)}")
    items = body.get("data")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise invalid("'data' must be a list of objects")
    data = [
        {
            "dataPath": payloads.text(i, "dataPath", non_empty=True),
            "dataLink": payloads.text(i, "dataLink", non_empty=True),
            "title": payloads.text(i, "title", non_empty=True),
        }
        for i in items
    ]
    transform = body.get("transformBoundingBoxesToPolygons")
    if not isinstance(transform, bool):
        raise invalid("'transformBoundingBoxesToPolygons' must be true or false")
    job = CvatImport(
        uuid="",
        owner=user.email,
        dataset_hash=dataset.hash,
        annotations=decode_annotations(payloads.text(body, "annotationsBase64")),
        review_mode=review_mode,
        data=data,
        transform_bounding_boxes_to_polygons=transform,
        created_at=now(),
        looks_left=_looks_needed(len(data)),
    )
    job.uuid = job_uuid("cvat_import", user, [dataset.hash, job.annotations, review_mode, data, transform])
    return store.get(CvatImport, job.uuid) or store.put(job)


@dataclass
class Issues:
    """What an import reports (the SDK's `Issues`): each issue type with the instances it was seen in."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    infos: dict[str, list[str]] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        def listed(found: dict[str, list[str]]) -> list[dict[str, Any]]:
            return [{"issue_type": kind, "instances": instances} for kind, instances in found.items()]

        return {"errors": listed(self.errors), "warnings": listed(self.warnings), "infos": listed(self.infos)}


@dataclass(frozen=True)
class CvatExport:
    """What the sandbox reads of a "CVAT for images 1.1" export."""

    export_type: str
    name: str
    labels: list[tuple[str, str, str]]  # (name, CVAT type, colour)
    images: list[ET.Element]


# CVAT shape elements and the ontology shape each becomes (§6.7); `tag` is a frame classification.
CVAT_SHAPES = {"box": "bounding_box", "polygon": "polygon", "polyline": "polyline", "points": "point"}
CVAT_LABEL_TYPES = {"rectangle": "box", "polygon": "polygon", "polyline": "polyline", "points": "points"}
DEFAULT_COLOURS = ("#D33115", "#FCDC00", "#68BC00", "#16A5A5", "#009CE0", "#7B64FF", "#FA28FF")


def read_export(xml_text: str) -> CvatExport:
    """Parse an annotations.xml; ValueError says why it is not a CVAT export."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"annotations.xml is not well-formed XML: {exc}") from None
    meta = root.find("meta")
    header = next((meta.find(kind) for kind in EXPORT_TYPES if meta is not None and meta.find(kind) is not None), None)
    if meta is None or header is None:
        raise ValueError("the annotations' meta names neither a project nor a task")
    labels = []
    for index, label in enumerate(header.iter("label")):
        name = (label.findtext("name") or "").strip()
        if name:
            colour = (label.findtext("color") or "").strip() or DEFAULT_COLOURS[index % len(DEFAULT_COLOURS)]
            labels.append((name, (label.findtext("type") or "any").strip(), colour))
    return CvatExport(header.tag, (header.findtext("name") or "").strip(), labels, list(root.iter("image")))


def _ontology_from_labels(export: CvatExport, transform_boxes: bool, issues: Issues) -> dict[str, Any]:
    """One ontology object per CVAT label, its shape taken from the label's type or the shapes that use it."""
    used: dict[str, str] = {}
    for image in export.images:
        for element in image:
            if element.tag in CVAT_SHAPES:
                used.setdefault(element.get("label", ""), element.tag)
    objects: list[dict[str, Any]] = []
    for name, cvat_type, colour in export.labels:
        if cvat_type not in CVAT_LABEL_TYPES and cvat_type != "any":
            issues.warnings.setdefault("unsupported_label_type", []).append(f"{name}: {cvat_type}")
            continue
        shape = CVAT_SHAPES[CVAT_LABEL_TYPES.get(cvat_type) or used.get(name, "box")]
        if shape == "bounding_box" and transform_boxes:
            shape = "polygon"
        objects.append(
            {
                "id": str(len(objects) + 1),
                "name": name,
                "color": colour,
                "shape": shape,
                "featureNodeHash": secrets.token_hex(4),
                "required": False,
                "archived": False,
            }
        )
    return {"objects": objects, "classifications": []}


def _check_shapes(export: CvatExport, matched: set[str], issues: Issues) -> None:
    names = {name for name, _, _ in export.labels}
    for image in export.images:
        title = image.get("name", "")
        if title not in matched:
            continue
        if not len(image):
            issues.infos.setdefault("image_without_annotations", []).append(title)
        for element in image:
            label = element.get("label", "")
            if element.tag not in CVAT_SHAPES and element.tag != "tag":
                issues.warnings.setdefault("unsupported_shape", []).append(f"{title}: {element.tag} {label}")
            elif label not in names:
                issues.warnings.setdefault("unknown_label", []).append(f"{title}: {label}")


def import_cvat(
    store: Store,
    user: User,
    xml_text: str,
    dataset: Dataset,
    images: Mapping[str, Callable[[ET.Element | None], DataRow | None]],
    transform_boxes: bool,
) -> tuple[str | None, Issues]:
    """Make a project from an export: (project hash, issues), or (None, issues) when nothing can be imported.

    `images` maps an export path to what makes (or finds) its data unit, given the export's <image> (None when
    the export has no such image). Label rows are not modelled by the sandbox, so the annotations are checked
    and reported on but not stored.
    """
    issues = Issues()
    try:
        export = read_export(xml_text)
    except ValueError as exc:
        issues.errors["invalid_annotations_file"] = [str(exc)]
        return None, issues
    by_path = {image.get("name", ""): image for image in export.images}
    missing = [path for path in by_path if path not in images]
    if missing:
        issues.warnings["image_not_uploaded"] = missing
    matched = set(by_path) & set(images)
    if not matched:
        issues.errors["no_matching_images"] = sorted(by_path) or ["the export has no images"]
        return None, issues
    _check_shapes(export, matched, issues)
    editor = _ontology_from_labels(export, transform_boxes, issues)
    units = {path: make(by_path.get(path)) for path, make in images.items()}
    lost = [path for path, unit in units.items() if unit is None]
    if lost:
        issues.errors["data_unit_not_found"] = lost
        return None, issues
    title = export.name or dataset.title
    ontology = create_ontology(store, user, title, "Imported from CVAT", editor)
    project = create_project(
        store,
        user,
        title=title,
        description=f"Imported from a CVAT {export.export_type} export",
        dataset_hashes=[dataset.hash],
        ontology_hash=ontology.hash,
        workflow_type="manual",
        source_projects=[],
        workflow_template=None,
    )
    return project.hash, issues


def _new_image_unit(store: Store, dataset: Dataset, item: dict[str, str]) -> Callable[[ET.Element | None], DataRow]:
    """What registers one uploaded image of a J-04 import as a data unit of the dataset."""

    def make(image: ET.Element | None) -> DataRow:
        at = now()
        size = {k: _pixels(image, k) for k in ("width", "height")}
        return store.put(
            DataRow(
                data_hash=new_hash(),
                dataset_hash=dataset.hash,
                title=item["title"],
                data_type="IMAGE",
                created_at=at,
                last_edited_at=at,
                file_link=item["dataLink"],
                file_type=MIME_TYPES["IMAGE"],
                file_size=0,
                width=size["width"],
                height=size["height"],
            )
        )

    return make


def _existing_unit(rows: dict[str, DataRow], data_hash: Any) -> Callable[[ET.Element | None], DataRow | None]:
    """What finds the data unit a J-06L import names for an export path (uploaded before the call)."""

    def find(image: ET.Element | None) -> DataRow | None:
        return rows.get(data_hash) if isinstance(data_hash, str) else None

    return find


def _pixels(image: ET.Element | None, key: str) -> int | None:
    raw = image.get(key) if image is not None else None
    return int(float(raw)) if raw and re.fullmatch(r"\d+(\.\d+)?", raw) else None


def _finish_cvat_import(store: Store, user: User, job: CvatImport) -> None:
    dataset = _importable_dataset(store, user, job.dataset_hash)
    images = {item["dataPath"]: _new_image_unit(store, dataset, item) for item in job.data}
    project_hash, issues = import_cvat(
        store, user, job.annotations, dataset, images, job.transform_bounding_boxes_to_polygons
    )
    job.project_hash, job.issues = project_hash, issues.wire()
    job.status = DONE if project_hash is not None else ERROR
    if project_hash is not None:
        dataset.touch()
        store.put(dataset)


# ---- rules: polls ------------------------------------------------------------------------------


def _own_job(store: Store, cls: type[Any], job_uuid: str, user: User) -> Any:
    job = store.get(cls, job_uuid)
    if job is None or job.owner != user.email:
        raise not_found("job", job_uuid)  # someone else's job is nobody's business
    return job


def look_at_deidentification(store: Store, user: User, job_uuid: str) -> tuple[bool, dict[str, Any]]:
    """One look: a step of work on a pending job; (finished, the J-02 answer)."""
    job: DicomDeidentification = _own_job(store, DicomDeidentification, job_uuid, user)
    if job.status == PENDING:
        job.looks_left -= 1
        if job.looks_left <= 0:
            _finish_deidentification(job)
        store.put(job)
    return job.status != PENDING, deidentification_v2(job)


def look_at_cvat_import(store: Store, user: User, job_uuid: str) -> tuple[bool, dict[str, Any]]:
    """One look at a CVAT import; the project is made by the look that finishes it."""
    job: CvatImport = _own_job(store, CvatImport, job_uuid, user)
    if job.status == PENDING:
        job.looks_left -= 1
        if job.looks_left <= 0:
            _finish_cvat_import(store, user, job)
        store.put(job)
    return job.status != PENDING, cvat_import_v2(job)


def long_poll(call: V2Call, look: Callable[[], tuple[bool, Any]]) -> Any:
    """Encord's poll contract (§4.5): look now; while the job is unfinished, hold the request (the server runs
    this again, each time a new look) until it finishes or `timeoutSeconds` pass (0: answer at once)."""
    raw = call.query.get("timeoutSeconds")
    if raw is None or not raw.isdigit():
        raise invalid("timeoutSeconds must be a whole number of seconds")
    finished, answer = look()
    return answer if finished or int(raw) == 0 else Held(answer, int(raw))


# ---- wire shapes -------------------------------------------------------------------------------


def deidentification_v2(job: DicomDeidentification) -> dict[str, Any]:
    """J-02 answer: `urls` once DONE."""
    return {"status": job.status, "urls": job.urls if job.status == DONE else None}


def cvat_import_v2(job: CvatImport) -> dict[str, Any]:
    """J-05 answer: the project once DONE, the issues once finished either way."""
    return {"status": job.status, "projectUuid": job.project_hash, "issues": job.issues}


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_deidentify_dicom_files(call: V1Call) -> list[str]:
    """J-03L: the old synchronous call; the integration travels as uid, enums in upper case."""
    if not isinstance(call.uid, str) or not is_uuid(call.uid):
        raise invalid("uid must be the integration hash")
    f = call.fields
    urls = payloads.text_list(f, "dicom_urls")
    if not urls:
        raise invalid("'dicom_urls' must name at least one file")
    payloads.flag(f, "redact_dicom_tags", default=True)
    if payloads.text(f, "redact_pixels_mode", default="REDACT_NO_TEXT") not in LEGACY_REDACT_MODES:
        raise invalid(f"'redact_pixels_mode' must be one of {', '.join(LEGACY_REDACT_MODES)}")
    save_conditions(f.get("save_conditions"), legacy=True)
    try:
        return deidentified_urls(urls, payloads.optional_text(f, "upload_dir"), time.time_ns())
    except ValueError as exc:
        raise invalid(str(exc)) from None


def v1_classify_cvat_export(call: V1Call) -> dict[str, Any]:
    """J-06L, first call: is the export a project or a task? A failure is an `error` member, not an error code."""
    try:
        export = read_export(decode_annotations(payloads.text(call.fields, "annotations_base64")))
    except ValueError as exc:
        return {"error": {"message": str(exc)}}
    return {"success": {"export_type": export.export_type}}


def v1_import_cvat_project(call: V1Call) -> dict[str, Any]:
    """J-06L, last call: the images are data units already (old uploads); the answer is a success/error union."""
    f = call.fields
    dataset = _importable_dataset(call.store, call.user, payloads.text(f, "dataset_hash", non_empty=True))
    if payloads.text(f, "review_mode") not in REVIEW_MODES:
        raise invalid(f"'review_mode' must be one of {', '.join(REVIEW_MODES)}")
    cvat = payloads.as_object(f.get("cvat"), "cvat")
    mapping = payloads.as_object(f.get("image_title_to_image_hash_map"), "image_title_to_image_hash_map")
    rows = {row.data_hash: row for row in data_rows_of(call.store, dataset)}
    images = {path: _existing_unit(rows, data_hash) for path, data_hash in mapping.items()}
    project_hash, issues = import_cvat(
        call.store,
        call.user,
        decode_annotations(payloads.text(cvat, "annotations_base64")),
        dataset,
        images,
        payloads.flag(f, "transform_bounding_boxes_to_polygons", default=False),
    )
    if project_hash is None:
        return {"error": {"issues": issues.wire()}}
    return {"success": {"project_hash": project_hash, "issues": issues.wire()}}


# ---- v2 handlers -------------------------------------------------------------------------------


def v2_start_deidentification(call: V2Call) -> str:
    return start_deidentification(call.store, call.user, call.json_object()).uuid


def v2_poll_deidentification(call: V2Call) -> Any:
    job_uuid = call.params["job_uuid"]
    return long_poll(call, lambda: look_at_deidentification(call.store, call.user, job_uuid))


def v2_start_cvat_import(call: V2Call) -> str:
    return start_cvat_import(call.store, call.user, call.json_object()).uuid


def v2_poll_cvat_import(call: V2Call) -> Any:
    job_uuid = call.params["job_uuid"]
    return long_poll(call, lambda: look_at_cvat_import(call.store, call.user, job_uuid))


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("user", "dicomdeidentifytask", "POST"): V1Operation(v1_deidentify_dicom_files),  # J-03L
    ("user", "projectimportercvatinfo", "POST"): V1Operation(v1_classify_cvat_export),  # J-06L
    ("user", "projectimporter", "POST"): V1Operation(v1_import_cvat_project),  # J-06L
}

V2: tuple[V2Route, ...] = (
    V2Route("POST", "dicom-deidentification", v2_start_deidentification),  # J-01
    V2Route("GET", "dicom-deidentification/{job_uuid}", v2_poll_deidentification),  # J-02
    V2Route("POST", "projects/cvat-import", v2_start_cvat_import),  # J-04
    V2Route("GET", "projects/cvat-import/{job_uuid}", v2_poll_cvat_import),  # J-05
)
