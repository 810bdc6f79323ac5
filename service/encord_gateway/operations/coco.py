"""COCO to and from Encord label documents (P-26, P-27), on plain JSON: what the SDK's encord.utilities.coco does.

Export follows the SDK's CocoExporter rule for rule (ids, track ids, the flattened attribute answers and
its quirks), so that the gateway's document equals `Project.export_coco_labels()` for the same rows;
`CocoExport` keeps its numbering across calls, so a stream converts rows batch by batch. Import follows
`import_coco_labels`: each annotation becomes a new object on its frame of an existing row's document.
Everything is pure Python except the two conversions that need a rasteriser (a polygon with holes or
several parts exported as RLE, an RLE imported into a polygon category): those use OpenCV and numpy
when installed (the `coco` extra, as for the SDK) and are refused clearly otherwise.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ROOT_SPACE_ID = "root"
FRAME_BASED_TYPES = {"video", "dicom", "nifti"}
SKIPPED_SHAPES = {"audio", "text"}  # objects COCO has no category for
DICOM_MIME_TYPE = "application/dicom"
NIFTI_MIME_TYPES = {"application/nifti1", "application/nifti2"}
PDF_MIME_TYPES = {"application/pdf"}
TEXT_MIME_TYPES = {"application/json", "application/xml", "text/plain", "text/html", "text/xml"}
VISIBLE, NOT_VISIBLE, NOT_LABELLED = 2, 1, 0  # COCO keypoint visibility


class CocoError(ValueError):
    """Input the conversion cannot use; `field` names where it is (for INVALID_ARGUMENT)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class CocoUnavailable(RuntimeError):
    """A conversion that needs the optional rasteriser (OpenCV, numpy), which is not installed."""


# ---- the ontology, as the conversions read it ---------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    feature_hash: str
    name: str
    kind: str  # radio, checklist, text, numeric
    dynamic: bool
    options: tuple[str, ...]  # checklist option labels


@dataclass(frozen=True)
class OntologyObject:
    feature_hash: str
    name: str
    color: str
    shape: str
    attributes: tuple[Attribute, ...]


def ontology_objects(structure: Mapping[str, Any]) -> list[OntologyObject]:
    objects = []
    for raw in structure.get("objects") or []:
        attributes = tuple(
            Attribute(
                feature_hash=str(a.get("featureNodeHash", "")),
                name=str(a.get("name", "")),
                kind=str(a.get("type", "")),
                dynamic=bool(a.get("dynamic", False)),
                options=tuple(str(o.get("label", "")) for o in a.get("options") or []),
            )
            for a in raw.get("attributes") or []
        )
        objects.append(
            OntologyObject(
                str(raw.get("featureNodeHash", "")),
                str(raw.get("name", "")),
                str(raw.get("color", "")),
                str(raw.get("shape", "")),
                attributes,
            )
        )
    return objects


# ---- RLE (pycocotools' compressed counts, and Encord's row-major bitmask strings) ----------------


def rle_from_string(text: str) -> list[int]:
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more and position < len(text):
            char = ord(text[position]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            position += 1
            shift += 1
            if not more and char & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def rle_to_string(counts: list[int]) -> str:
    chars = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            char = value & 0x1F
            value >>= 5
            more = value != -1 if char & 0x10 else value != 0
            if more:
                char |= 0x20
            chars.append(chr(char + 48))
    return "".join(chars)


def rle_to_mask(counts: Iterable[int], size: int) -> bytearray:
    mask = bytearray(size)
    offset = 0
    for index, count in enumerate(counts):
        if index % 2:
            mask[offset : offset + count] = b"\x01" * count
        offset += count
    return mask[:size]


def mask_to_rle(mask: bytes | bytearray) -> list[int]:
    counts: list[int] = []
    current, run = 0, 0
    for value in mask:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return counts


def transpose(mask: bytes | bytearray, rows: int, columns: int) -> bytearray:
    """A row-major `rows` by `columns` mask in column-major order (and the converse, with the shape swapped)."""
    flipped = bytearray(len(mask))
    for row in range(rows):
        flipped[row : rows * columns : rows] = mask[row * columns : (row + 1) * columns]
    return flipped


def rle_bbox(counts: list[int], height: int, width: int) -> tuple[float, float, float, float]:
    """pycocotools' rleToBbox over column-major counts (a run across columns spans the full height)."""
    pairs = (len(counts) // 2) * 2
    if pairs == 0:
        return 0.0, 0.0, 0.0, 0.0
    xs, ys, xe, ye, total, xp = width, height, 0, 0, 0, 0
    for index in range(pairs):
        total += counts[index]
        t = total - index % 2
        y = t % height
        x = (t - y) // height
        if index % 2 == 0:
            xp = x
        elif xp < x:
            ys, ye = 0, height - 1
        xs, xe, ys, ye = min(xs, x), max(xe, x), min(ys, y), max(ye, y)
    return float(xs), float(ys), float(xe - xs + 1), float(ye - ys + 1)


def rle_area(counts: list[int]) -> float:
    return float(sum(counts[1::2]))


# ---- geometry as shapely (GEOS) computes it ------------------------------------------------------


def ring_area(points: list[tuple[float, float]]) -> float:
    """GEOS's Area::ofRing over the closed ring (the shoelace formula, shifted by the first x)."""
    ring = list(points)
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    if len(ring) < 3:
        return 0.0
    x0 = ring[0][0]
    p1 = (ring[0][0], ring[0][1])
    p2 = (ring[1][0] - x0, ring[1][1])
    total = 0.0
    for index in range(1, len(ring) - 1):
        p0y = p1[1]
        p1 = p2
        nxt = ring[index + 1]
        p2 = (nxt[0] - x0, nxt[1])
        total += p1[0] * (p0y - p2[1])
    return abs(total / 2.0)


def bounds(points: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y = min(xs), min(ys)
    return x, y, max(xs) - x, max(ys) - y


def _rasteriser() -> tuple[Any, Any]:
    try:
        import cv2  # type: ignore[import-not-found,unused-ignore]
        import numpy  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise CocoUnavailable(
            "this conversion needs OpenCV and numpy on the gateway (pip install 'encord-gateway[coco]')"
        ) from None
    return cv2, numpy


def multipolygon_rle(polygons: list[list[list[float]]], width: int, height: int) -> dict[str, Any]:
    """The SDK's RLE of a polygon with holes or several parts: filled by OpenCV, largest part first."""
    cv2, numpy = _rasteriser()
    parts = []
    for polygon in polygons:
        rings = [[(ring[i] * width, ring[i + 1] * height) for i in range(0, len(ring) - 1, 2)] for ring in polygon]
        parts.append((ring_area(rings[0]) - sum(ring_area(hole) for hole in rings[1:]), rings))
    mask = numpy.zeros((height, width), dtype=numpy.uint8)
    for _, rings in sorted(parts, key=lambda part: part[0], reverse=True):
        cv2.fillPoly(mask, [numpy.array(_closed(rings[0]), dtype=numpy.int32)], color=(255, 255, 255))
        for hole in rings[1:]:
            cv2.fillPoly(mask, [numpy.array(_closed(hole), dtype=numpy.int32)], color=(0, 0, 0))
    column_major = bytes((numpy.asfortranarray(mask) != 0).astype(numpy.uint8).tobytes(order="F"))
    counts = mask_to_rle(column_major)
    return {"size": [height, width], "counts": rle_to_string(counts)}


def _closed(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return ring if ring and ring[0] == ring[-1] else [*ring, ring[0]]


# ---- export ------------------------------------------------------------------------------------


@dataclass
class CocoExport:
    """The SDK's CocoExporter over label-row documents, fed in order, possibly in several batches."""

    structure: Mapping[str, Any]
    objects: list[OntologyObject] = field(init=False)
    category_ids: dict[str, int] = field(init=False)  # feature hash → category id
    attributes: dict[str, Attribute] = field(init=False)  # top-level attributes of every object
    image_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    next_annotation: int = 0
    track_ids: dict[str, int] = field(default_factory=dict)
    dynamic_answers: dict[tuple[int, str], dict[str, Any]] | None = None  # the SDK reads the first row's only

    def __post_init__(self) -> None:
        self.objects = ontology_objects(self.structure)
        self.category_ids = {}
        self.attributes = {}
        for obj in self.objects:
            for attribute in obj.attributes:
                self.attributes[attribute.feature_hash] = attribute

    def head(self, first_title: str | None) -> dict[str, Any]:
        """`info` and `categories`: what the document holds before its images."""
        info = {"description": first_title, "contributor": None, "date_created": None, "url": None}
        info |= {"version": None, "year": None}
        categories: list[dict[str, Any]] = []
        self.category_ids = {}
        for obj in self.objects:
            if obj.shape in SKIPPED_SHAPES:
                continue
            category_id = len(categories) + 1  # from 1: masks drawn with the id need it above 0
            self.category_ids[obj.feature_hash] = category_id
            category: dict[str, Any] = {"supercategory": obj.shape, "id": category_id, "name": obj.name}
            if obj.shape == "point":
                category |= {"keypoints": "keypoint", "skeleton": []}
            categories.append(category)
        return {"info": info, "categories": categories}

    def rows(self, documents: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The images, then the annotations, of these rows' documents, numbered after earlier batches."""
        images = [image for document in documents for image in self._images(document)]
        by_id = {image["id"]: image for image in images}
        annotations = [a for document in documents for a in self._annotations(document, by_id)]
        return images, annotations

    # -- images --

    def _image_id(self, data_hash: str, frame: int) -> int:
        image_id = len(self.image_ids)
        self.image_ids[(data_hash, frame)] = image_id
        return image_id

    def _images(self, document: Mapping[str, Any]) -> list[dict[str, Any]]:
        images: list[dict[str, Any]] = []
        row_type = str(document.get("data_type", ""))
        for unit in (document.get("data_units") or {}).values():
            if row_type.lower() in FRAME_BASED_TYPES and ROOT_SPACE_ID not in (document.get("spaces") or {}):
                unit = {**unit, "labels": dict(unit.get("labels") or {})}  # classification-only frames too
                for answer in (document.get("classification_answers") or {}).values():
                    if not answer.get("featureHash"):
                        continue
                    for start, end in answer.get("range") or []:
                        for frame in range(start, end + 1):
                            unit["labels"].setdefault(str(frame), {"objects": [], "classifications": []})
            data_type = str(unit.get("data_type", ""))
            data_hash = unit["data_hash"]
            if DICOM_MIME_TYPE in data_type:
                images += [self._dicom_image(int(k), unit, label) for k, label in unit["labels"].items()]
            elif data_type in NIFTI_MIME_TYPES:
                for key in unit["labels"]:
                    frame = int(key)
                    images.append(
                        {"coco_url": unit["data_link"], "id": self._image_id(data_hash, frame),
                         "file_name": f"nifti/{data_hash}/{frame}", "height": unit["height"], "width": unit["width"]}
                    )  # fmt: skip
            elif data_type in PDF_MIME_TYPES or data_type in TEXT_MIME_TYPES or row_type.upper() == "AUDIO":
                continue
            elif "video" not in data_type:
                title = str(unit["data_title"])
                images.append(
                    {"coco_url": unit["data_link"], "id": self._image_id(data_hash, 0), "image_title": title,
                     "file_name": f"images/{data_hash}.{title.split('.')[-1]}",
                     "height": unit["height"], "width": unit["width"]}
                )  # fmt: skip
            else:
                for key in unit["labels"]:
                    frame = int(key)
                    images.append(
                        {"coco_url": unit["data_link"], "id": self._image_id(data_hash, frame),
                         "video_title": unit["data_title"], "file_name": f"videos/{data_hash}/{frame}.jpg",
                         "height": unit["height"], "width": unit["width"]}
                    )  # fmt: skip
        return images

    def _dicom_image(self, frame: int, unit: Mapping[str, Any], label: Mapping[str, Any]) -> dict[str, Any]:
        data_hash = unit["data_hash"]
        image_id = self._image_id(data_hash, frame)
        metadata = label.get("metadata")
        if metadata:
            file_name = f"dicom/{data_hash}/{metadata['dicom_instance_uid']}"
            if metadata.get("multiframe_frame_number") is not None:
                file_name += f"/{metadata['multiframe_frame_number']}"
            return {"coco_url": metadata["file_uri"], "id": image_id, "file_name": file_name,
                    "height": metadata["height"], "width": metadata["width"]}  # fmt: skip
        return {"coco_url": "", "id": image_id, "file_name": f"dicom/{data_hash}/{frame}",
                "height": unit["height"], "width": unit["width"]}  # fmt: skip

    # -- annotations --

    def _annotations(self, document: Mapping[str, Any], images: Mapping[int, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        answers = document.get("object_answers") or {}
        actions = document.get("object_actions") or {}
        row_type = str(document.get("data_type", ""))
        for unit in (document.get("data_units") or {}).values():
            data_hash, data_type = unit["data_hash"], str(unit.get("data_type", ""))
            if "video" in data_type or data_type == DICOM_MIME_TYPE or data_type in NIFTI_MIME_TYPES:
                for key, frame in (unit.get("labels") or {}).items():
                    image_id = self.image_ids[(data_hash, int(key))]
                    found += self._objects(frame.get("objects") or [], image_id, images, answers, actions)
            elif data_type in PDF_MIME_TYPES or data_type in TEXT_MIME_TYPES or row_type.upper() == "AUDIO":
                continue
            else:
                image_id = self.image_ids[(data_hash, 0)]
                objects = (unit.get("labels") or {}).get("objects") or []
                found += self._objects(objects, image_id, images, answers, actions)
        return found

    def _objects(
        self,
        objects: list[Mapping[str, Any]],
        image_id: int,
        images: Mapping[int, Any],
        answers: Mapping[str, Any],
        actions: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        image = images.get(image_id)
        width = max(1, int(image["width"])) if image else 1
        height = max(1, int(image["height"])) if image else 1
        converted = []
        for obj in objects:
            convert = _SHAPES.get(str(obj.get("shape")))
            if convert is None:
                continue
            category_id = self._category(obj)
            fields = {"id": self.next_annotation, "iscrowd": 0}
            self.next_annotation += 1
            object_hash = str(obj["objectHash"])
            if object_hash not in self.track_ids:
                self.track_ids[object_hash] = len(self.track_ids)
            geometry = convert(obj, width, height)
            attributes = {
                "track_id": self.track_ids[object_hash],
                "encord_track_uuid": object_hash,
                "rotation": geometry.pop("rotation", None),
                "classifications": self._classifications(obj, image_id, answers, actions),
                "manual_annotation": obj.get("manualAnnotation"),
            }
            converted.append(
                {"area": geometry["area"], "bbox": list(geometry["bbox"]), "category_id": category_id,
                 "image_id": image_id, "iscrowd": geometry.get("iscrowd", fields["iscrowd"]),
                 "segmentation": geometry["segmentation"], "keypoints": geometry.get("keypoints"),
                 "num_keypoints": geometry.get("num_keypoints"), "id": fields["id"],
                 "attributes": {k: v for k, v in attributes.items() if v is not None}}
            )  # fmt: skip
        return converted

    def _category(self, obj: Mapping[str, Any]) -> int:
        feature_hash = str(obj.get("featureHash"))
        if feature_hash not in self.category_ids:
            raise CocoError("featureHash", f"{feature_hash!r} is not an object of the project's ontology")
        return self.category_ids[feature_hash]

    # -- flattened attribute answers, as CocoExporter.get_flat_classifications --

    def _classifications(
        self, obj: Mapping[str, Any], image_id: int, answers: Mapping[str, Any], actions: Mapping[str, Any]
    ) -> dict[str, Any]:
        object_hash, feature_hash = str(obj["objectHash"]), str(obj.get("featureHash"))
        if self.dynamic_answers is None:
            self.dynamic_answers = self._dynamic_answers(actions)
        static: dict[str, Any] = {}
        for classification in (answers.get(object_hash) or {}).get("classifications") or []:
            attribute = self.attributes.get(str(classification.get("featureHash")))
            if attribute is not None:  # else a nested attribute, which the SDK leaves out
                static.update(_answer(attribute, classification.get("answers")))
        self._unselected(feature_hash, static, dynamic=False)
        dynamic = self.dynamic_answers.get((image_id, object_hash), {})
        self._unselected(feature_hash, dynamic, dynamic=True)
        static.update(dynamic)
        return static

    def _dynamic_answers(self, actions: Mapping[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
        found: dict[tuple[int, str], dict[str, Any]] = {}
        for object_hash, payload in actions.items():
            for action in payload.get("actions") or []:
                attribute = self.attributes.get(str(action.get("featureHash")))
                if attribute is None:
                    continue
                answer = _answer(attribute, action.get("answers"))
                for start, end in action.get("range") or []:
                    for index in range(start, end + 1):
                        found.setdefault((index, object_hash), {}).update(answer)
        return found

    def _unselected(self, feature_hash: str, answers: dict[str, Any], dynamic: bool) -> None:
        obj = next((o for o in self.objects if o.feature_hash == feature_hash), None)
        for attribute in obj.attributes if obj is not None else ():
            if attribute.dynamic != dynamic:
                continue
            if attribute.kind == "checklist":
                for label in attribute.options:
                    answers.setdefault(label, False)
            else:
                answers.setdefault(attribute.name, None)


def _answer(attribute: Attribute, answers: Any) -> dict[str, Any]:
    if attribute.kind == "radio":
        return {attribute.name: answers[0]["name"]}
    if attribute.kind == "checklist":
        chosen = {answer["name"] for answer in answers}
        return {label: label in chosen for label in attribute.options}
    if attribute.kind in ("text", "numeric"):
        return {attribute.name: answers}
    return {}


def _points(value: Any, width: int, height: int) -> list[tuple[float, float]]:
    if isinstance(value, list):
        return [(p["x"] * width, p["y"] * height) for p in value]
    return [(value[str(i)]["x"] * width, value[str(i)]["y"] * height) for i in range(len(value))]


def _box(obj: Mapping[str, Any], key: str, width: int, height: int) -> dict[str, Any]:
    box = obj[key]
    x, y, w, h = box["x"] * width, box["y"] * height, box["w"] * width, box["h"] * height
    found = {"area": w * h, "bbox": (x, y, w, h), "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
    if key == "rotatableBoundingBox":
        found["rotation"] = box["theta"]
    return found


def _polygon(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    polygons = obj.get("polygons")
    if polygons and (len(polygons) > 1 or len(polygons[0]) > 1):  # holes or parts: COCO needs an RLE
        rle = multipolygon_rle(polygons, width, height)
        counts = rle_from_string(rle["counts"])
        return {"area": rle_area(counts), "bbox": rle_bbox(counts, height, width), "segmentation": rle, "iscrowd": 1}
    points = _points(obj["polygon"], width, height)
    return {
        "area": ring_area(points),
        "bbox": bounds(points),
        "segmentation": [[c for point in points for c in point]],
    }


def _polyline(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    points = _points(obj["polyline"], width, height)
    flat = [c for point in points for c in point]
    for index in range(len(flat) - 2, -1, -2):  # back to the start: an area-less polygon, COCO's only line
        flat += flat[index : index + 2]
    if len(points) == 2:
        (x1, y1), (x2, y2) = points
        box = (float(min(x1, x2)), float(min(y1, y2)), float(abs(x1 - x2)), float(abs(y1 - y2)))
    else:
        box = bounds(points)
    return {"area": 0, "bbox": box, "segmentation": [flat]}


def _bitmask(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    bitmask = obj["bitmask"]
    rows, columns = int(bitmask["height"]), int(bitmask["width"])
    row_major = rle_to_mask(rle_from_string(bitmask["rleString"]), rows * columns)
    counts = mask_to_rle(transpose(row_major, rows, columns))
    return {
        "area": rle_area(counts),
        "bbox": rle_bbox(counts, rows, columns),
        "segmentation": {"size": [rows, columns], "counts": rle_to_string(counts)},
        "iscrowd": 1,
    }


def _point(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    x, y = obj["point"]["0"]["x"] * width, obj["point"]["0"]["y"] * height
    return {"area": 0, "bbox": (x, y, 0, 0), "segmentation": [[x, y]], "keypoints": [x, y, VISIBLE], "num_keypoints": 1}


def _skeleton(obj: Mapping[str, Any], width: int, height: int) -> dict[str, Any]:
    keypoints: list[float] = []
    for point in obj["skeleton"].values():
        keypoints += [point["x"] * width, point["y"] * height, _visibility(point)]
    xs, ys = keypoints[::3], keypoints[1::3]
    x, y = min(xs), min(ys)
    return {
        "area": 0,
        "bbox": (x, y, max(xs) - x, max(ys) - y),
        "segmentation": [],
        "keypoints": keypoints,
        "num_keypoints": len(keypoints) // 3,
    }


def _visibility(point: Mapping[str, Any]) -> int:
    if point.get("invisible") is True:
        return NOT_LABELLED
    if point.get("occluded") is True or point.get("selfOccluded") is True:
        return NOT_VISIBLE
    return VISIBLE


_SHAPES: dict[str, Callable[[Mapping[str, Any], int, int], dict[str, Any]]] = {
    "bounding_box": lambda obj, w, h: _box(obj, "boundingBox", w, h),
    "rotatable_bounding_box": lambda obj, w, h: _box(obj, "rotatableBoundingBox", w, h),
    "polygon": _polygon,
    "polyline": _polyline,
    "bitmask": _bitmask,
    "point": _point,
    "skeleton": _skeleton,
}


# ---- import ------------------------------------------------------------------------------------

SAVED_KEYS = (
    "label_hash", "branch_name", "created_at", "last_edited_at", "data_hash", "dataset_hash", "dataset_title",
    "data_title", "data_type", "annotation_task_status", "is_shadow_data", "object_answers",
    "classification_answers", "object_actions", "label_status", "data_units", "spaces",
)  # fmt: skip
"""The keys of a document as LabelRowV2.save sends it (to_encord_dict), whatever else a read answered."""


@dataclass(frozen=True)
class Frame:
    data_hash: str
    frame: int


@dataclass(frozen=True)
class CocoImport:
    """A COCO document checked against what `import_coco_labels` accepts, with where its images go."""

    images: dict[int, Mapping[str, Any]]
    annotations: list[Mapping[str, Any]]
    categories: dict[int, str]  # category id → feature hash
    frames: dict[int, Frame]  # image id → frame
    confidence_field: str

    @property
    def data_hashes(self) -> list[str]:
        """The data units the import writes to, each once, in the order the caller named them."""
        return list(dict.fromkeys(frame.data_hash for frame in self.frames.values()))


def parse_import(
    coco: Mapping[str, Any], categories: Mapping[int, str], frames: Mapping[int, Frame], confidence_field: str
) -> CocoImport:
    """Check the document as the SDK's CocoRootModel does, before anything is read or written."""
    for key in ("categories", "images", "annotations"):
        if not isinstance(coco.get(key), list):
            raise CocoError(f"coco.{key}", "must be a list")
    for image_id, frame in frames.items():
        if frame.frame < 0:
            raise CocoError(f"image_frames[image_id={image_id}].frame", "must not be negative")
    images: dict[int, Mapping[str, Any]] = {}
    for index, image in enumerate(coco["images"]):
        where = f"coco.images[{index}]"
        if not isinstance(image, dict) or not all(_whole(image.get(k)) for k in ("id", "width", "height")):
            raise CocoError(where, "needs whole numbers id, width and height")
        if int(image["width"]) <= 0 or int(image["height"]) <= 0:
            raise CocoError(where, "width and height must be positive")
        images[int(image["id"])] = image
    for index, annotation in enumerate(coco["annotations"]):
        where = f"coco.annotations[{index}]"
        if not isinstance(annotation, dict):
            raise CocoError(where, "must be an object")
        for key in ("id", "image_id", "category_id"):
            if not _whole(annotation.get(key)):
                raise CocoError(f"{where}.{key}", "must be a whole number")
        box = annotation.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            raise CocoError(f"{where}.bbox", "must be four numbers [x, y, width, height]")
        if annotation.get("segmentation") is not None:
            _segmentation(annotation["segmentation"], f"{where}.segmentation")
        image_id = int(annotation["image_id"])
        if image_id in frames and image_id not in images:
            raise CocoError(f"{where}.image_id", f"{image_id} is not among coco.images")
    return CocoImport(images, list(coco["annotations"]), dict(categories), dict(frames), confidence_field)


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _segmentation(value: Any, where: str) -> None:
    if isinstance(value, list):
        if not value or not all(
            isinstance(p, list) and len(p) % 2 == 0 and len(p) >= 6 and all(_number(c) for c in p) for p in value
        ):
            raise CocoError(where, "polygons must be lists of at least three x, y pairs")
    elif isinstance(value, dict):
        size, counts = value.get("size"), value.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_whole(v) and v > 0 for v in size)):
            raise CocoError(f"{where}.size", "must be [height, width]")
        if not (isinstance(counts, str) or (isinstance(counts, list) and all(_whole(c) for c in counts))):
            raise CocoError(f"{where}.counts", "must be an RLE string or a list of run lengths")
    else:
        raise CocoError(where, "must be a list of polygons or an RLE object")


def new_object_hash() -> str:
    """A fresh 8-character object hash, as the SDK's short_uuid_str makes them."""
    return secrets.token_urlsafe(6)[:8]


def now_text() -> str:
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def import_documents(
    plan: CocoImport,
    structure: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    documents: Sequence[Mapping[str, Any]],
    object_hash: Callable[[], str] = new_object_hash,
) -> list[dict[str, Any]]:
    """The documents to save (`{label_hash, document}`, in the rows' order) with every usable annotation added.

    As the SDK: annotations of unmapped images, unknown categories or rows the project lacks are skipped;
    every listed row is saved, changed or not.
    """
    objects = {obj.feature_hash: obj for obj in ontology_objects(structure)}
    category_objects: dict[int, OntologyObject] = {}
    for category_id, feature_hash in plan.categories.items():
        obj = objects.get(feature_hash)
        if obj is None:
            raise CocoError(f"category_feature_hashes[{category_id}]", "is not an object of the project's ontology")
        category_objects[category_id] = obj
    by_label = {d.get("label_hash"): d for d in documents}
    by_data = {d.get("data_hash"): d for d in documents}
    prepared: dict[str, dict[str, Any]] = {}
    for row in rows:
        found = by_label.get(row.get("label_hash")) if row.get("label_hash") else None
        document = found or by_data.get(row.get("data_hash"))
        if document is None:
            continue
        saved = {key: document.get(key) for key in SAVED_KEYS}
        saved["is_shadow_data"] = bool(row.get("is_shadow_data", False))
        saved["object_answers"] = dict(saved.get("object_answers") or {})
        saved["data_units"] = {
            k: {**v, "labels": dict(v.get("labels") or {})} for k, v in document["data_units"].items()
        }
        prepared[str(row.get("data_hash"))] = saved
    stamp = now_text()
    for index, annotation in enumerate(plan.annotations):
        image_id = int(annotation["image_id"])
        frame = plan.frames.get(image_id)
        document = prepared.get(frame.data_hash) if frame is not None else None
        obj = category_objects.get(int(annotation["category_id"]))
        if frame is None or document is None or obj is None:
            continue
        image = plan.images[image_id]
        where = f"coco.annotations[{index}]"
        confidence = annotation.get(plan.confidence_field) if plan.confidence_field else None
        coordinates = _coordinates(annotation, obj, int(image["width"]), int(image["height"]), where)
        new_hash = object_hash()
        entry = {
            "name": obj.name, "color": obj.color, "shape": obj.shape, "value": obj.name.lower().replace(" ", "_"),
            "createdAt": stamp, "createdBy": None, "confidence": 1.0 if confidence is None else confidence,
            "objectHash": new_hash, "featureHash": obj.feature_hash, "manualAnnotation": True, "lastEditedAt": stamp,
            **coordinates,
        }  # fmt: skip
        _place(document, frame, entry, where)
        document["object_answers"][new_hash] = {"classifications": [], "objectHash": new_hash}
    return [{"label_hash": d["label_hash"], "document": d} for d in prepared.values()]


def _place(document: dict[str, Any], frame: Frame, entry: dict[str, Any], where: str) -> None:
    units = document["data_units"]
    row_type = str(document.get("data_type", "")).lower()
    if row_type == "img_group":
        unit = next((u for u in units.values() if int(u.get("data_sequence", -1)) == frame.frame), None)
        if unit is None:
            raise CocoError(f"{where}.image_id", f"the image group has no image {frame.frame}")
        _check_bitmask(entry, unit, where)
        unit["labels"] = {**unit["labels"], "objects": [*(unit["labels"].get("objects") or []), entry]}
        return
    unit = units.get(frame.data_hash) or next(iter(units.values()))
    _check_bitmask(entry, unit, where)
    if row_type in ("image", ""):
        unit["labels"] = {**unit["labels"], "objects": [*(unit["labels"].get("objects") or []), entry]}
        unit["labels"].setdefault("classifications", [])
        return
    key = str(frame.frame)
    labels = unit["labels"].get(key) or {"objects": [], "classifications": []}
    unit["labels"][key] = {**labels, "objects": [*(labels.get("objects") or []), entry]}


def _check_bitmask(entry: Mapping[str, Any], unit: Mapping[str, Any], where: str) -> None:
    bitmask = entry.get("bitmask")
    if bitmask is not None and (bitmask["height"], bitmask["width"]) != (unit.get("height"), unit.get("width")):
        raise CocoError(f"{where}.segmentation.size", "does not match the size of the image it is placed on")


def _coordinates(
    annotation: Mapping[str, Any], obj: OntologyObject, width: int, height: int, where: str
) -> dict[str, Any]:
    x, y, w, h = (float(v) for v in annotation["bbox"])
    segmentation = annotation.get("segmentation")
    if obj.shape == "bounding_box":
        return {"boundingBox": {"h": h / height, "w": w / width, "x": x / width, "y": y / height}}
    if obj.shape == "bitmask":
        if not isinstance(segmentation, dict):
            raise CocoError(f"{where}.segmentation", "a bitmask category needs an RLE segmentation")
        rows, columns = int(segmentation["size"][0]), int(segmentation["size"][1])
        return {"bitmask": {"top": 0, "left": 0, "height": rows, "width": columns,
                            "rleString": _encord_rle(segmentation["counts"], rows, columns)}}  # fmt: skip
    if obj.shape == "polygon":
        if segmentation is None:  # the SDK makes a polygon of the box
            segmentation = [[x, y, x, y + h, x + w, y + h, x + w, y]]
        if isinstance(segmentation, dict):
            rows, columns = int(segmentation["size"][0]), int(segmentation["size"][1])
            return _polygon_entry(_contours(_encord_rle(segmentation["counts"], rows, columns), rows, columns))
        # Each COCO polygon a part of its own, with one outline (COCO says nothing of holes).
        polygons = [[[c for i in range(0, len(p), 2) for c in (p[i] / width, p[i + 1] / height)]] for p in segmentation]
        return _polygon_entry(polygons)
    raise CocoError(f"{where}.category_id", f"objects of shape {obj.shape} cannot be imported from COCO")


def _polygon_entry(polygons: list[list[list[float]]]) -> dict[str, Any]:
    """Encord's two spellings of a polygon: its first outline as points, and every ring of every part."""
    outline = polygons[0][0]
    points = {str(i // 2): {"x": outline[i], "y": outline[i + 1]} for i in range(0, len(outline), 2)}
    return {"polygon": points, "polygons": polygons}


def _encord_rle(counts: Any, rows: int, columns: int) -> str:
    """A COCO RLE (column-major, as a string or run lengths) as Encord's row-major bitmask string."""
    runs = rle_from_string(counts) if isinstance(counts, str) else [int(c) for c in counts]
    column_major = rle_to_mask(runs, rows * columns)
    return rle_to_string(mask_to_rle(transpose(column_major, columns, rows)))


def _contours(rle: str, rows: int, columns: int) -> list[list[list[float]]]:
    """The SDK's polygons of an RLE: OpenCV's outer contours with their holes, relative to the image."""
    cv2, numpy = _rasteriser()
    mask = numpy.frombuffer(bytes(rle_to_mask(rle_from_string(rle), rows * columns)), dtype=numpy.uint8)
    contours, hierarchy = cv2.findContours(mask.reshape((rows, columns)), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    polygons: list[list[list[float]]] = []
    if hierarchy is not None and len(hierarchy) > 0:
        tree = hierarchy[0]
        for i, contour in enumerate(contours):
            if tree[i][3] == -1:
                rings = [contour.reshape(-1).tolist()]
                rings += [inner.reshape(-1).tolist() for j, inner in enumerate(contours) if tree[j][3] == i]
                polygons.append(rings)
    for polygon in polygons:
        for ring in polygon:
            for i in range(0, len(ring), 2):
                ring[i] /= columns
                ring[i + 1] /= rows
    return polygons
