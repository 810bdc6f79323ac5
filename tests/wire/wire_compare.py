"""Request-by-request comparison of two recorded wire conversations, and independent signature checks.

The SDK's requests are the reference. What must match: method, path and query string (exact bytes),
body (exact bytes, or parsed JSON after masking), and the headers Encord reads (§2.2, §3.3 of the wire
document). User-Agent and X-Cloud-Trace-Context differ by design and are shown, never compared.
A v1 call made with a resource API key carries that key unsigned, so it must be the SDK's key.
Signatures are verified here with `cryptography` alone, not with the gateway's own signing code, so a
mistake shared by signer and sandbox verifier cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from wire_recorder import RecordedRequest

V1_PATHS = ("/public", "/public/user")
V2_PREFIX = "/v2/public/"

# Headers compared by value (Authorization of v1 is compared separately: only byte-equal bodies make
# equal signatures). v2 in SSH mode carries no Authorization; comparing it catches a stray one.
COMPARED_HEADERS = {
    "v1": ("ResourceID", "ResourceType", "Content-Type"),
    "v2": ("Content-Type", "Content-Digest", "Signature-Input", "Authorization"),
}
SECRET_HEADERS = frozenset({"authorization", "signature"})  # shown only as equal / different
MASKED = "<masked>"

_CREATED = re.compile(r";created=\d+")
_SIGNATURE_PARAMS = re.compile(
    r'^encord-sig=(\("@method" "@request-target" "content-digest"\);created=\d+;keyid="([0-9a-f]{64})";alg="ed25519")$'
)
_SIGNATURE_VALUE = re.compile(r"^encord-sig=:([A-Za-z0-9+/=]+):$")


def api_of(request: RecordedRequest) -> str:
    if request.path.startswith(V2_PREFIX):
        return "v2"
    return "v1" if request.path in V1_PATHS else "unknown"


# ---- masks ------------------------------------------------------------------------------------


def apply_masks(document: Any, masks: Sequence[str]) -> tuple[Any, int]:
    """`document` with every value at a mask path replaced by "<masked>", and how many values matched.

    A mask is a dotted path into the parsed JSON body: keys of objects, indexes of arrays, and `*`
    for every member or element (e.g. `values.uid`, `values.payload.files.*.uid`).
    """
    masked = json.loads(json.dumps(document))  # a deep copy that is plain JSON
    matched = 0
    for mask in masks:
        matched += _mask(masked, mask.split("."))
    return masked, matched


def _mask(node: Any, parts: list[str]) -> int:
    head, rest = parts[0], parts[1:]
    keys: list[Any]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
    elif isinstance(node, list):
        keys = (
            list(range(len(node))) if head == "*" else [int(head)] if head.isdigit() and int(head) < len(node) else []
        )
    else:
        return 0
    matched = 0
    for key in keys:
        if rest:
            matched += _mask(node[key], rest)
        else:
            node[key] = MASKED
            matched += 1
    return matched


# ---- signatures -------------------------------------------------------------------------------


def _verifies(public_key_hex: str, signature: bytes, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def signature_problems(request: RecordedRequest, public_key_hex: str) -> list[str]:
    """Why `request` is not correctly signed by the key `public_key_hex` (empty when it is)."""
    api = api_of(request)
    if api == "v1":
        return _v1_problems(request, public_key_hex)
    if api == "v2":
        return _v2_problems(request, public_key_hex)
    return [f"{request.path} is neither a v1 nor a v2 endpoint"]


def is_api_key_call(request: RecordedRequest) -> bool:
    """A v1 call made with a resource API key (§2.2): the raw key as Authorization, which has no `:`.

    Such a call carries no signature to verify; its Authorization must instead equal the other side's
    (compare_pair compares it whatever the bodies)."""
    authorization = request.header("Authorization")
    return api_of(request) == "v1" and bool(authorization) and ":" not in (authorization or "")


def _v1_problems(request: RecordedRequest, public_key_hex: str) -> list[str]:
    """§2.4: `<pubhex>:<hex of Ed25519 over SHA-256(body)>`; a resource API key is unsigned (see is_api_key_call)."""
    if is_api_key_call(request):
        return []
    authorization = request.header("Authorization") or ""
    key_hex, _, signature_hex = authorization.partition(":")
    if key_hex != public_key_hex:
        return ["v1 Authorization does not name the organisation's public key"]
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return ["v1 Authorization signature is not hex"]
    if not _verifies(public_key_hex, signature, hashlib.sha256(request.body).digest()):
        return ["v1 signature does not verify over SHA-256 of the body"]
    return []


def signature_base(request: RecordedRequest, digest: str, params: str) -> bytes:
    """§3.4: the four component lines, LF-joined, no trailing newline, from the request as recorded."""
    return "\n".join(
        (
            f'"@method": {request.method.upper()}',
            f'"@request-target": {request.target}',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        )
    ).encode("utf-8")


def _v2_problems(request: RecordedRequest, public_key_hex: str) -> list[str]:
    digest = request.header("Content-Digest") or ""
    expected_digest = f"sha-256=:{base64.b64encode(hashlib.sha256(request.body).digest()).decode('ascii')}:"
    if digest != expected_digest:
        return ["v2 Content-Digest is not SHA-256 of the body"]
    params = _SIGNATURE_PARAMS.match(request.header("Signature-Input") or "")
    if params is None:
        return ["v2 Signature-Input is not the SDK's encord-sig member"]
    if params.group(2) != public_key_hex:
        return ["v2 Signature-Input keyid is not the organisation's public key"]
    value = _SIGNATURE_VALUE.match(request.header("Signature") or "")
    if value is None:
        return ["v2 Signature is not an encord-sig byte sequence"]
    if not _verifies(
        public_key_hex, base64.b64decode(value.group(1)), signature_base(request, digest, params.group(1))
    ):
        return ["v2 signature does not verify over the signature base rebuilt from the request"]
    return []


# ---- comparison -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairResult:
    """The differences found in one pair of requests: the row names that differ and why, in words."""

    rows: frozenset[str]  # "method", "path", "query", "body" or a header name (lower case)
    notes: tuple[str, ...]


def _header_value(request: RecordedRequest, name: str) -> str | None:
    value = request.header(name)
    if value is not None and name.lower() == "signature-input":
        value = _CREATED.sub(";created=<created>", value)  # the two clocks differ
    return value


PATH_MASK = "path:"
"""A mask `path:<n>` hides segment n (from 0) of the path: an id the server made up for each side (a job of a
registration whose uploads got keys of their own) that no request can make the same."""


def masked_path(path: str, masks: Sequence[str]) -> str:
    segments = path.split("/")
    for mask in masks:
        if mask.startswith(PATH_MASK) and (index := int(mask[len(PATH_MASK) :])) < len(segments):
            segments[index] = MASKED
    return "/".join(segments)


def body_masks(masks: Sequence[str]) -> list[str]:
    return [mask for mask in masks if not mask.startswith(PATH_MASK)]


def compare_pair(
    reference: RecordedRequest, candidate: RecordedRequest, masks: Sequence[str], parsed: bool = False
) -> PairResult:
    rows: set[str] = set()
    notes: list[str] = []
    paths = masked_path(reference.path, masks), masked_path(candidate.path, masks)
    masks = body_masks(masks)
    for row, ours, theirs in (
        ("method", reference.method, candidate.method),
        ("path", *paths),
        ("query", reference.query, candidate.query),
    ):
        if ours != theirs:
            rows.add(row)
            notes.append(f"{row} differs")
    bodies_equal = reference.body == candidate.body
    if not bodies_equal and (masks or parsed):  # equal bytes (an empty GET body) need no masking
        note = _masked_body_note(reference, candidate, masks, parsed)
        if note is not None:
            rows.add("body")
            notes.append(note)
    elif not bodies_equal:
        rows.add("body")
        notes.append("body bytes differ")
    api = api_of(reference)
    for name in COMPARED_HEADERS.get(api, ()):
        if name == "Content-Digest" and not bodies_equal and (masks or parsed):
            continue  # bodies differ by design here; each digest is checked against its own body below
        if _header_value(reference, name) != _header_value(candidate, name):
            rows.add(name.lower())
            notes.append(f"header {name} differs")
    authorizations_differ = reference.header("Authorization") != candidate.header("Authorization")
    if api == "v1" and authorizations_differ and (is_api_key_call(reference) or is_api_key_call(candidate)):
        rows.add("authorization")
        notes.append("v1 Authorization differs: an API-key call must send the same key as the SDK")
    elif api == "v1" and bodies_equal and authorizations_differ:
        rows.add("authorization")
        notes.append("v1 Authorization differs although the bodies are byte-equal (same key, deterministic Ed25519)")
    return PairResult(frozenset(rows), tuple(notes))


def _masked_body_note(
    reference: RecordedRequest, candidate: RecordedRequest, masks: Sequence[str], parsed: bool
) -> str | None:
    """Masks hide values, not order: a masked body must keep the SDK's key order unless it is `parsed`
    (free-form members, whose key order is the gateway's own choice)."""
    if not (_is_json(reference.body) and _is_json(candidate.body)):
        return "body: a masked comparison needs both bodies to be JSON"
    masked_ours, _ = apply_masks(json.loads(reference.body), masks)
    masked_theirs, _ = apply_masks(json.loads(candidate.body), masks)
    if parsed and masked_ours == masked_theirs:
        return None
    if not parsed and json.dumps(masked_ours) == json.dumps(masked_theirs):
        return None
    if not masks:
        return "body differs as parsed JSON"
    order = "" if parsed or masked_ours != masked_theirs else " (in key order)"
    return f"body differs after masking {', '.join(masks)}{order}"


def wire_differences(
    reference: Sequence[RecordedRequest],
    candidate: Sequence[RecordedRequest],
    public_key_hex: str,
    masks: Sequence[str] = (),
    parsed: bool = False,
) -> tuple[list[str], list[frozenset[str]]]:
    """Every difference (as sentences) and, per request pair, the rows that differ."""
    problems: list[str] = []
    if not reference:
        problems.append("the SDK sent no request: the reference is empty")
    if len(reference) != len(candidate):
        problems.append(f"the SDK sent {len(reference)} request(s), the gateway {len(candidate)}")
    if body_masks(masks):
        matched = sum(apply_masks(json.loads(r.body), body_masks(masks))[1] for r in reference if _is_json(r.body))
        if matched == 0:
            problems.append(f"masks {list(masks)} match nothing in the SDK's requests")
    rows_per_pair: list[frozenset[str]] = []
    for index, (ours, theirs) in enumerate(zip(reference, candidate, strict=False), start=1):
        result = compare_pair(ours, theirs, masks, parsed)
        rows_per_pair.append(result.rows)
        problems.extend(f"request {index}: {note}" for note in result.notes)
    for side, requests in (("SDK", reference), ("gateway", candidate)):
        for index, request in enumerate(requests, start=1):
            problems.extend(f"{side} request {index}: {p}" for p in signature_problems(request, public_key_hex))
    return problems, rows_per_pair


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def assert_same_wire(
    reference: Sequence[RecordedRequest],
    candidate: Sequence[RecordedRequest],
    public_key_hex: str,
    masks: Sequence[str] = (),
    parsed: bool = False,
) -> None:
    """Fail with every difference and both conversations side by side (secrets shown only as equal or not)."""
    problems, rows = wire_differences(reference, candidate, public_key_hex, masks, parsed)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise AssertionError(
            f"the gateway's wire calls differ from the SDK's:\n{listing}\n\n" + side_by_side(reference, candidate, rows)
        )


# ---- rendering --------------------------------------------------------------------------------

LABEL_WIDTH = 24
COLUMN_WIDTH = 58


def side_by_side(
    reference: Sequence[RecordedRequest],
    candidate: Sequence[RecordedRequest],
    differing: Sequence[frozenset[str]] = (),
) -> str:
    """Both conversations in two columns, request by request; `!` marks a compared row that differs."""
    blocks = []
    for index in range(max(len(reference), len(candidate))):
        ours = reference[index] if index < len(reference) else None
        theirs = candidate[index] if index < len(candidate) else None
        marked = differing[index] if index < len(differing) else frozenset()
        lines = [f"request {index + 1}", _row(" ", "", "SDK (reference)", "gateway")]
        for row, name, left, right in _rows(ours, theirs):
            lines.append(_row("!" if row in marked else " ", name, left, right))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _fields(request: RecordedRequest | None, names: list[str]) -> dict[str, str]:
    """What one side shows per row; secrets are replaced by a placeholder that the caller rewrites."""
    if request is None:
        return {}
    fields = {"method": request.method, "path": request.path, "query": request.query}
    for name in names:
        value = request.header(name)
        if value is not None:
            fields[name.lower()] = value
    fields["body"] = request.body.decode("utf-8", "backslashreplace") if request.body else "(empty)"
    return fields


def _rows(ours: RecordedRequest | None, theirs: RecordedRequest | None) -> list[tuple[str, str, str, str]]:
    names: list[str] = []
    for request in (ours, theirs):
        for key, _ in request.headers if request is not None else ():
            if key.lower() not in {name.lower() for name in names}:
                names.append(key)
    left, right = _fields(ours, names), _fields(theirs, names)
    rows = []
    for label in ("method", "path", "query", *names, "body"):
        row = label.lower()
        one, two = left.get(row), right.get(row)
        if row in SECRET_HEADERS:
            verdict = "<redacted: equal>" if one == two else "<redacted: differs>"
            one, two = (verdict if one is not None else None), (verdict if two is not None else None)
        rows.append((row, label, _shown(ours, one), _shown(theirs, two)))
    return rows


def _shown(request: RecordedRequest | None, text: str | None) -> str:
    if request is None:
        return "(no request)"
    return "(absent)" if text is None else text


def _chunks(text: str) -> list[str]:
    """Fixed-width slices: unlike word wrapping, they keep every space, which the bytes compared include."""
    return [text[start : start + COLUMN_WIDTH] for start in range(0, len(text), COLUMN_WIDTH)] or [""]


def _row(mark: str, label: str, left: str, right: str) -> str:
    lefts, rights = _chunks(left), _chunks(right)
    lines = []
    for number in range(max(len(lefts), len(rights))):
        head = label if number == 0 else ""
        one = lefts[number] if number < len(lefts) else ""
        two = rights[number] if number < len(rights) else ""
        lines.append(f"{mark if number == 0 else ' '} {head:<{LABEL_WIDTH}} {one:<{COLUMN_WIDTH}} | {two}")
    return "\n".join(lines)
