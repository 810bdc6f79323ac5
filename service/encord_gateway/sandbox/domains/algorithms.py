"""Labelling algorithms (P-14, P-15): linear interpolation of objects between key frames, and bounding-box fitting.

Both are compute calls on a project's labels (v1 `labelingalgorithm POST`, keyed by a throw-away UUID): nothing is
stored. Labels are Encord's frames dict, `{"<frame>": {"objects": [{"objectHash", "featureHash", <geometry>}]}}`,
with coordinates normalised to the frame (0 to 1); each object's feature must be an object of the project's
ontology, as Encord requires.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from .. import payloads
from ..errors import invalid
from ..operations import V1Call, V1Key, V1Operation, V2Route, needs
from ..store import Store
from .projects import Project, editor_of

# ---- rules -------------------------------------------------------------------------------------

# The geometry keys of a label object (§7.7); an object carries one of them.
GEOMETRY_KEYS = ("boundingBox", "rotatableBoundingBox", "polygon", "polyline", "point")
DECIMALS = 6
"""Coordinates are rounded to a millionth of the frame: far below a pixel, and free of float noise
(the midpoint of 0.1 and 0.3 is 0.2, not 0.19999999999999998)."""

Frames = dict[int, list[dict[str, Any]]]


def _frame_number(key: str) -> int:
    if not key.isdigit():
        raise invalid(f"frame keys must be frame numbers, not {key!r}")
    return int(key)


def _geometry_key(obj: dict[str, Any], where: str) -> str:
    found = [key for key in GEOMETRY_KEYS if key in obj]
    if len(found) != 1:
        raise invalid(f"{where}: an object needs exactly one of {', '.join(GEOMETRY_KEYS)}")
    return found[0]


def _frames(store: Store, project: Project, value: Any, what: str) -> Frames:
    """Encord's frames dict, checked: frame numbers, objects with hashes, a geometry and a feature of the ontology."""
    fields = payloads.as_object(value, what)
    if not fields:
        raise invalid(f"'{what}' must name at least one frame")
    features = {o.get("featureNodeHash") for o in editor_of(store, project).get("objects", [])}
    frames: Frames = {}
    for key, frame in fields.items():
        objects = payloads.as_object(frame, f"{what}.{key}").get("objects")
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise invalid(f"'{what}.{key}.objects' must be a list of objects")
        for obj in objects:
            where = f"{what}.{key}"
            payloads.text(obj, "objectHash", non_empty=True)
            if payloads.text(obj, "featureHash", non_empty=True) not in features:
                raise invalid(f"{where}: feature {obj['featureHash']} is not an object of the project's ontology")
            _geometry_key(obj, where)
        frames[_frame_number(key)] = objects
    return frames


def _lerp(a: Any, b: Any, t: float, where: str) -> Any:
    """The point a fraction `t` of the way from `a` to `b`, member by member (boxes, vertex dicts, points)."""
    if isinstance(a, bool) or isinstance(b, bool):
        raise invalid(f"{where}: coordinates must be numbers")
    if isinstance(a, int | float) and isinstance(b, int | float):
        return round(a + (b - a) * t, DECIMALS)
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {key: _lerp(a[key], b[key], t, where) for key in a}
    raise invalid(f"{where}: the key frames' geometries differ in shape (e.g. polygons with other vertex counts)")


def interpolate(frames: Frames, object_hashes: list[str]) -> dict[str, Any]:
    """P-14: every frame from the first key frame to the last; between two key frames of an object its geometry moves
    linearly, other members are those of the earlier key frame. Objects not asked for stay in their key frames only."""
    filled: Frames = {number: list(objects) for number, objects in frames.items()}
    for object_hash in dict.fromkeys(object_hashes):
        keys = {n: o for n, objects in sorted(frames.items()) for o in objects if o["objectHash"] == object_hash}
        if not keys:
            raise invalid(f"object {object_hash} is in none of the key frames")
        numbers = list(keys)
        for start, end in itertools.pairwise(numbers):
            first, last = keys[start], keys[end]
            geometry = _geometry_key(first, f"object {object_hash}")
            if geometry not in last:
                raise invalid(f"object {object_hash} has a {geometry} in frame {start} but not in frame {end}")
            for number in range(start + 1, end):
                at = _lerp(first[geometry], last[geometry], (number - start) / (end - start), f"object {object_hash}")
                filled.setdefault(number, []).append({**first, geometry: at})
    return {str(n): {"objects": filled.get(n, [])} for n in range(min(frames), max(frames) + 1)}


def _points(obj: dict[str, Any], geometry: str, where: str) -> list[tuple[float, float]]:
    """The corners or vertices of an object's geometry."""
    shape = payloads.as_object(obj[geometry], f"{where}.{geometry}")

    def number(holder: dict[str, Any], key: str) -> float:
        value = holder.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(f"{where}.{geometry}: '{key}' must be a number")
        return float(value)

    if geometry in ("boundingBox", "rotatableBoundingBox"):
        x, y, w, h = (number(shape, key) for key in ("x", "y", "w", "h"))
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        theta = math.radians(number(shape, "theta")) if geometry == "rotatableBoundingBox" else 0.0
        cx, cy = x + w / 2, y + h / 2
        cos, sin = math.cos(theta), math.sin(theta)
        return [(cx + (px - cx) * cos - (py - cy) * sin, cy + (px - cx) * sin + (py - cy) * cos) for px, py in corners]
    vertices = [payloads.as_object(v, f"{where}.{geometry}") for v in shape.values()]
    if not vertices:
        raise invalid(f"{where}.{geometry} has no vertices")
    return [(number(v, "x"), number(v, "y")) for v in vertices]


def _pixel_span(low: float, high: float, size: int) -> tuple[float, float]:
    """[low, high] widened to whole pixels of a `size`-pixel axis and kept inside the frame, as fractions."""
    first = max(0, math.floor(round(low * size, DECIMALS)))
    last = min(size, math.ceil(round(high * size, DECIMALS)))
    return round(first / size, DECIMALS), round(max(first, last) / size - first / size, DECIMALS)


def fit_boxes(frames: Frames, width: int, height: int) -> dict[str, Any]:
    """P-15: each object becomes the smallest box on the video's pixel grid that encloses its geometry."""
    fitted: dict[str, Any] = {}
    for number, objects in sorted(frames.items()):
        boxes = []
        for obj in objects:
            geometry = _geometry_key(obj, f"frame {number}")
            points = _points(obj, geometry, f"frame {number}")
            x, w = _pixel_span(min(p[0] for p in points), max(p[0] for p in points), width)
            y, h = _pixel_span(min(p[1] for p in points), max(p[1] for p in points), height)
            kept = {key: value for key, value in obj.items() if key not in GEOMETRY_KEYS}
            boxes.append({**kept, "boundingBox": {"x": x, "y": y, "w": w, "h": h}})
        fitted[str(number)] = {"objects": boxes}
    return fitted


def _run_interpolation(call: V1Call, params: dict[str, Any]) -> dict[str, Any]:
    frames = _frames(call.store, call.resource_as(Project), params.get("key_frames"), "key_frames")
    hashes = payloads.text_list(params, "objects_to_interpolate")
    if not hashes:
        raise invalid("'objects_to_interpolate' must name at least one object")
    return interpolate(frames, hashes)


def _run_box_fitting(call: V1Call, params: dict[str, Any]) -> dict[str, Any]:
    frames = _frames(call.store, call.resource_as(Project), params.get("labels"), "labels")
    video = payloads.as_object(params.get("video"), "video")
    size = range(1, 100_000)
    width = payloads.integer(video, "width", choices=size)
    height = payloads.integer(video, "height", choices=size)
    return fit_boxes(frames, width, height)


ALGORITHMS: dict[str, Callable[[V1Call, dict[str, Any]], dict[str, Any]]] = {
    "interpolation": _run_interpolation,  # P-14
    "fitted_bounding_box": _run_box_fitting,  # P-15
}


# ---- v1 handlers -------------------------------------------------------------------------------


def v1_run_labelling_algorithm(call: V1Call) -> dict[str, Any]:
    if not isinstance(call.uid, str) or not call.uid:
        raise invalid("uid must be a fresh identifier of the run (the SDK sends a random UUID)")
    name = payloads.text(call.fields, "algorithm_name")
    run = ALGORITHMS.get(name)
    if run is None:
        raise invalid(f"algorithm_name must be one of {', '.join(ALGORITHMS)}")
    return run(call, payloads.as_object(call.fields.get("algorithm_parameters"), "algorithm_parameters"))


# ---- tables ------------------------------------------------------------------------------------

V1: dict[V1Key, V1Operation] = {
    ("project", "labelingalgorithm", "POST"): V1Operation(  # P-14, P-15
        v1_run_labelling_algorithm, key=needs("algo.library")
    ),
}

V2: tuple[V2Route, ...] = ()
