"""The label workload of `make bench`: export every label row of one project, with its document.

One sandbox project holds ROWS images, each with a label row of three boxes and a classification. The
same export runs twice, each side in a process of its own so that its peak RSS is its own:

- gateway: `LabelService/StreamLabelRows` with `include_documents` over one gRPC channel (the gateway
  lists the rows once and fetches documents 1000 at a time, as the SDK's bundles do);
- SDK 0.1.211 directly on the sandbox: `get_project`, `list_label_rows_v2`, then `initialise_labels` of
  every row in one bundle (1000 per call): what the SDK documents for reading labels at volume.

Both end with every row's labels in memory (protobuf messages on one side, LabelRowV2 objects on the
other). Reported: rows per second of each, their ratio, the peak RSS of each exporting process and of
the gateway server, and the upstream calls each made (from the sandbox's request log). The sandbox
serves both, so its own cost is in both times.

    .venv/bin/python bench/label_export.py --gateway-export TARGET PROJECT   (one side; the token on stdin)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encord_gateway.upstream.signing import Signer, encode_body, v1_authorization, v2_signature_headers

ROWS = 2000
QUICK_ROWS = 400
BATCH = 1000  # Encord's label-row batch (labelrow GET/PUT/POST with a list uid)
EXPORT_TIMEOUT_SECONDS = 600
ONTOLOGY = {
    "objects": [{"id": "1", "name": "Car", "color": "#D33115", "shape": "bounding_box", "featureNodeHash": "ca7ca7ca"}],
    "classifications": [
        {"id": "2", "featureNodeHash": "3ea7e5a1", "attributes": [
            {"id": "2.1", "name": "Weather", "type": "radio", "required": False, "featureNodeHash": "a77a77a7",
             "options": [{"id": "2.1.1", "label": "Sunny", "value": "sunny", "featureNodeHash": "50505050"}]}]}
    ],
}  # fmt: skip
TIME = "Tue, 02 Jan 2024 00:00:00 UTC"


@dataclass
class Side:
    name: str
    rows: int = 0
    seconds: float = 0.0
    peak_rss_kb: int = 0
    calls: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class LabelResult:
    expected_rows: int
    gateway: Side
    sdk: Side
    gateway_server_peak_rss_kb: int | None


# ---- setup, straight on the sandbox (not measured) ------------------------------------------------


class Direct:
    """Signed v1/v2 calls to the sandbox with the organisation's key, and its control API."""

    def __init__(self, sandbox_url: str, signer: Signer) -> None:
        self.url = sandbox_url
        self.signer = signer

    def _send(self, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
        request = urllib.request.Request(self.url + path, data=body or None, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=300) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def v1(self, query_type: str, method: str, uid: Any, payload: Any, project: str = "") -> Any:
        body = encode_body(
            {"query_type": query_type, "query_method": method, "values": {"uid": uid, "payload": payload}}
        )
        headers = {
            "Content-Type": "application/json",
            "ResourceType": "project" if project else "",
            "ResourceID": project,
            "Authorization": v1_authorization(self.signer, body),
        }
        answer = self._send("/public" if project else "/public/user", body, headers)
        if answer.get("status") != 200:
            raise RuntimeError(f"v1 {query_type} {method} failed: {str(answer)[:300]}")
        return answer["response"]

    def v2(self, method: str, path: str, body: Any) -> Any:
        data = encode_body(body)
        target = "/v2/public/" + path
        headers = {"Content-Type": "application/json"} | v2_signature_headers(
            self.signer, method, target, data, int(time.time())
        )
        return self._send(target, data, headers, method)

    def control(self, path: str, body: Any) -> Any:
        return self._send(path, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def requests(self) -> list[dict[str, Any]]:
        return self._send("/sandbox/v1/requests", b"", {}, "GET")

    def clear_requests(self) -> None:
        self._send("/sandbox/v1/requests", b"", {}, "DELETE")


def labelled_document(document: dict[str, Any], index: int) -> dict[str, Any]:
    """The created row's document with three boxes and a sunny-weather classification."""
    (unit,) = document["data_units"].values()
    for n in range(3):
        object_hash = f"{index:05d}{n:03d}"
        unit["labels"]["objects"].append(
            {"name": "Car", "color": "#D33115", "shape": "bounding_box", "value": "car", "objectHash": object_hash,
             "featureHash": "ca7ca7ca", "manualAnnotation": True, "confidence": 1.0, "createdBy": "bench@encord-gateway.local",
             "createdAt": TIME, "lastEditedAt": TIME, "lastEditedBy": "bench@encord-gateway.local",
             "boundingBox": {"h": 0.1 + n / 10, "w": 0.2, "x": 0.3, "y": 0.05 * n}}
        )  # fmt: skip
        document["object_answers"][object_hash] = {"objectHash": object_hash, "classifications": []}
    document["classification_answers"][f"c{index:07d}"] = {
        "classificationHash": f"c{index:07d}", "featureHash": "3ea7e5a1", "range": [[0, 0]], "createdAt": TIME,
        "createdBy": "bench@encord-gateway.local", "manualAnnotation": True,
        "classifications": [{"name": "Weather", "value": "weather", "featureHash": "a77a77a7", "manualAnnotation": True,
                             "answers": [{"name": "Sunny", "value": "sunny", "featureHash": "50505050"}]}],
    }  # fmt: skip
    return document


def make_project(direct: Direct, rows: int) -> str:
    """A project of `rows` labelled images, built with direct calls (what a team's labelling left behind)."""
    dataset = direct.v2("POST", "datasets", {"title": "bench labels", "createBackingFolder": False})["datasetUuid"]
    direct.control(
        f"/sandbox/v1/datasets/{dataset}/data-units", {"data_units": [{"title": f"{n:05d}.jpg"} for n in range(rows)]}
    )
    ontology = direct.v2("POST", "ontologies", {"title": "bench labels", "description": "", "editor": ONTOLOGY})[
        "ontologyUuid"
    ]
    project = direct.v1(
        "project", "POST", None,
        {"title": "bench labels", "description": "", "dataset_hashes": [dataset], "workflow_type": "manual", "ontology_hash": ontology},
    )  # fmt: skip
    units = [
        r["data_hash"]
        for r in direct.v1("labelrowmetadata", "GET", None, {"include_uninitialised_labels": True}, project)
    ]
    for start in range(0, len(units), BATCH):
        created = direct.v1("labelrow", "PUT", units[start : start + BATCH], {"multi_request": True}, project)
        documents = [labelled_document(d, start + n) for n, d in enumerate(created)]
        payload = {"multi_request": True, "labels": documents, "validate_before_saving": False}
        direct.v1("labelrow", "POST", [d["label_hash"] for d in documents], payload, project)
    return str(project)


# ---- the two exports, each in a process of its own -------------------------------------------------


def peak_rss_kb() -> int:
    """This process's own peak RSS: VmHWM belongs to the address space exec made (getrusage's ru_maxrss also
    counts what the forking parent had resident, so every child would report at least the parent's size)."""
    return vm_hwm_kb(os.getpid()) or 0


def gateway_export(target: str, project: str, token: str) -> dict[str, Any]:
    import grpc
    from encord_gateway._generated.encord.gateway.v1 import labels_pb2, labels_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = labels_pb2_grpc.LabelServiceStub(channel)
        request = labels_pb2.StreamLabelRowsRequest(project_hash=project, include_documents=True)
        started = time.perf_counter()
        rows = list(
            stub.StreamLabelRows(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=EXPORT_TIMEOUT_SECONDS
            )
        )
        seconds = time.perf_counter() - started
    labelled = sum(1 for row in rows if row.HasField("document") and row.document.fields["data_units"])
    return {"rows": labelled, "seconds": seconds, "peak_rss_kb": peak_rss_kb()}


def sdk_export(sandbox_url: str, openssh: str, project: str) -> dict[str, Any]:
    from encord import EncordUserClient

    client = EncordUserClient.create_with_ssh_private_key(openssh, domain=sandbox_url)
    started = time.perf_counter()
    opened = client.get_project(project)
    rows = opened.list_label_rows_v2()
    with opened.create_bundle() as bundle:
        for row in rows:
            row.initialise_labels(bundle=bundle)
    seconds = time.perf_counter() - started
    labelled = sum(1 for row in rows if row.is_labelling_initialised and row.get_object_instances())
    return {"rows": labelled, "seconds": seconds, "peak_rss_kb": peak_rss_kb()}


def run_side(name: str, args: list[str], secret: str) -> dict[str, Any]:
    """One export in a child process; its secret (a caller token, or the org key for the SDK) goes through
    its standard input, never its command line."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        input=secret,
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {name} export failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _calls(direct: Direct) -> list[str]:
    described = []
    for entry in direct.requests():
        if entry.get("api") == "v1":
            described.append(f"v1 {entry['query_type']} {entry['query_method']}")
        else:
            described.append(f"v2 {entry['method']} {entry['path'].split('/')[3]}")
    return described


def measure(
    sandbox_url: str, grpc_target: str, token: str, signer: Signer, openssh: str, gateway_pid: int, *, quick: bool
) -> LabelResult:
    rows = QUICK_ROWS if quick else ROWS
    direct = Direct(sandbox_url, signer)
    project = make_project(direct, rows)
    sides = []
    for name, args, secret in (
        ("gateway", ["--gateway-export", grpc_target, project], token),
        ("SDK", ["--sdk-export", sandbox_url, project], openssh),
    ):
        side = Side(name)
        direct.clear_requests()
        try:
            answer = run_side(name, args, secret)
            side.rows, side.seconds, side.peak_rss_kb = answer["rows"], answer["seconds"], answer["peak_rss_kb"]
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            side.error = str(exc)
        side.calls = _calls(direct)
        sides.append(side)
    return LabelResult(rows, sides[0], sides[1], vm_hwm_kb(gateway_pid))


def render(result: LabelResult) -> str:
    lines = [
        f"label export: {result.expected_rows} rows (3 boxes and a classification each), every row with its labels"
    ]
    header = f"{'workload':<56}{'rows':>6}{'seconds':>9}{'rows/s':>9}{'peak RSS MiB':>14}"
    lines += [header, "-" * len(header)]
    for side, label in (
        (result.gateway, "gateway StreamLabelRows (documents)"),
        (result.sdk, "SDK list_label_rows_v2 + bundled initialise_labels"),
    ):
        lines.append(f"{label:<56}{side.rows:>6}{side.seconds:>9.2f}{side.rate:>9.0f}{side.peak_rss_kb / 1024:>14.1f}")
    if result.sdk.rate:
        lines.append(f"ratio gateway / SDK rows/s: {result.gateway.rate / result.sdk.rate:.2f}x (target: at least 5x)")
    if result.gateway_server_peak_rss_kb is not None:
        lines.append(
            f"gateway server peak RSS (VmHWM) after the export: {result.gateway_server_peak_rss_kb / 1024:.1f} MiB"
        )
    for side in (result.gateway, result.sdk):
        lines.append(f"upstream calls ({side.name}): {', '.join(side.calls) or 'none'}")
        if side.error:
            lines.append(f"ERROR ({side.name}): {side.error}")
        elif side.rows != result.expected_rows:
            lines.append(f"WARNING ({side.name}): exported {side.rows} labelled rows, expected {result.expected_rows}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="one side of the label export (run by bench/run.py)")
    side = parser.add_mutually_exclusive_group(required=True)
    side.add_argument("--gateway-export", nargs=2, metavar=("GRPC_TARGET", "PROJECT"))
    side.add_argument("--sdk-export", nargs=2, metavar=("SANDBOX_URL", "PROJECT"))
    args = parser.parse_args()
    if args.gateway_export:
        target, project = args.gateway_export
        print(json.dumps(gateway_export(target, project, sys.stdin.read().strip())))
    else:
        sandbox_url, project = args.sdk_export
        print(json.dumps(sdk_export(sandbox_url, sys.stdin.read(), project)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
