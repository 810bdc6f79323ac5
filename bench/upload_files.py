"""The upload workload of `make bench`: FILES images of 256 KiB into one dataset, and what memory that takes.

Each side runs in a process of its own (so that its peak RSS is its own), on a fresh dataset of its own:

- gateway: `UploadService/UploadFiles`, every file streamed in 1 MiB chunks over one gRPC call; the gateway gets
  a signed URL, PUTs the bytes, registers and polls each file, several files at once;
- SDK 0.1.211 directly on the sandbox: `Dataset.upload_image` of every file, what the SDK offers for putting
  images into a dataset (each one: a signed URL, the PUT, the registration, its poll).

Reported: files/s and MiB/s of each, their ratio, the peak RSS of each uploading process, the gateway server's
peak RSS (VmHWM, a high-water mark since it started, so earlier workloads count) after the 256 KiB files and
again after a few files of LARGE_BYTES uploaded at once (it grows by far less than the files: the gateway spools
them, it never holds one whole), and the upstream calls each side made (the sandbox's request log).

    .venv/bin/python bench/upload_files.py --gateway-upload TARGET DATASET DIRECTORY   (one side; the token on stdin)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encord_gateway.upstream.signing import Signer
from label_export import Direct, peak_rss_kb, vm_hwm_kb

FILES = 200
QUICK_FILES = 40
FILE_BYTES = 256 * 1024
LARGE_FILES = 3
LARGE_BYTES = 48 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
UPLOAD_TIMEOUT_SECONDS = 900


@dataclass
class Side:
    name: str
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    peak_rss_kb: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0

    @property
    def mib_rate(self) -> float:
        return self.bytes / 1024 / 1024 / self.seconds if self.seconds else 0.0


@dataclass
class UploadResult:
    expected_files: int
    gateway: Side
    sdk: Side
    gateway_rss_small_kb: int | None
    gateway_rss_large_kb: int | None
    large: Side | None


# ---- the files, and each side in a process of its own ----------------------------------------------


def write_files(directory: Path, count: int, size: int) -> None:
    """Images of random bytes (the sandbox does not decode them; random bytes do not compress)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (directory / f"{n:05d}.jpg").write_bytes(os.urandom(size))


def _requests(dataset: str, directory: Path) -> Iterator[Any]:
    from encord_gateway._generated.encord.gateway.v1 import uploads_pb2

    yield uploads_pb2.UploadFilesRequest(dataset_hash=dataset, item_type=uploads_pb2.UPLOAD_FILE_TYPE_IMAGE)
    for path in sorted(directory.iterdir()):
        with path.open("rb") as handle:
            first = True
            while chunk := handle.read(CHUNK_BYTES):
                if first:
                    yield uploads_pb2.UploadFilesRequest(name=path.name, content_type="image/jpeg", chunk=chunk)
                    first = False
                else:
                    yield uploads_pb2.UploadFilesRequest(chunk=chunk)


def gateway_upload(target: str, dataset: str, directory: Path, token: str) -> dict[str, Any]:
    import grpc
    from encord_gateway._generated.encord.gateway.v1 import uploads_pb2, uploads_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = uploads_pb2_grpc.UploadServiceStub(channel)
        started = time.perf_counter()
        messages = list(
            stub.UploadFiles(
                _requests(dataset, directory),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=UPLOAD_TIMEOUT_SECONDS,
            )
        )
        seconds = time.perf_counter() - started
    done = {m.file_index: m for m in messages if m.job.status == uploads_pb2.UPLOAD_JOB_STATUS_DONE}
    failed = [m for m in messages if m.HasField("error")]
    if failed:
        raise RuntimeError(f"{len(failed)} files failed, first: {failed[0].error.message}")
    return {"files": len(done), "bytes": sum(m.size_bytes for m in done.values()), "seconds": seconds,
            "peak_rss_kb": peak_rss_kb()}  # fmt: skip


def sdk_upload(sandbox_url: str, openssh: str, dataset_hash: str, directory: Path) -> dict[str, Any]:
    from encord import EncordUserClient

    client = EncordUserClient.create_with_ssh_private_key(openssh, domain=sandbox_url)
    dataset = client.get_dataset(dataset_hash)
    paths = sorted(directory.iterdir())
    started = time.perf_counter()
    uploaded = [dataset.upload_image(path) for path in paths]
    seconds = time.perf_counter() - started
    return {"files": len(uploaded), "bytes": sum(p.stat().st_size for p in paths), "seconds": seconds,
            "peak_rss_kb": peak_rss_kb()}  # fmt: skip


def run_side(args: list[str], secret: str) -> dict[str, Any]:
    """One side in a child process; its secret (a caller token, or the org key) through standard input."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        input=secret,
        capture_output=True,
        text=True,
        timeout=UPLOAD_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-500:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _calls(direct: Direct) -> dict[str, int]:
    counted: dict[str, int] = {}
    for entry in direct.requests():
        if entry.get("api") == "v1":
            name = f"v1 {entry['query_type']} {entry['query_method']}"
        else:
            name = f"v2 {entry['method']} {entry['path'].removeprefix('/v2/public/')}"
        counted[name] = counted.get(name, 0) + 1
    return counted


def _run(name: str, args: list[str], secret: str, direct: Direct) -> Side:
    side = Side(name)
    direct.clear_requests()
    try:
        answer = run_side(args, secret)
        side.files, side.bytes = answer["files"], answer["bytes"]
        side.seconds, side.peak_rss_kb = answer["seconds"], answer["peak_rss_kb"]
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        side.error = str(exc)
    side.calls = _calls(direct)
    return side


def measure(
    sandbox_url: str,
    grpc_target: str,
    token: str,
    signer: Signer,
    openssh: str,
    gateway_pid: int,
    workdir: Path,
    *,
    quick: bool,
) -> UploadResult:
    count = QUICK_FILES if quick else FILES
    direct = Direct(sandbox_url, signer)
    small, large = workdir / "upload-small", workdir / "upload-large"
    write_files(small, count, FILE_BYTES)
    datasets = [direct.v2("POST", "datasets", {"title": f"bench uploads {n}"})["datasetUuid"] for n in range(3)]
    gateway = _run("gateway", ["--gateway-upload", grpc_target, datasets[0], str(small)], token, direct)
    rss_small = vm_hwm_kb(gateway_pid)
    sdk = _run("SDK", ["--sdk-upload", sandbox_url, datasets[1], str(small)], openssh, direct)
    large_side = None
    rss_large = None
    if not quick:
        write_files(large, LARGE_FILES, LARGE_BYTES)
        large_side = _run("gateway (large)", ["--gateway-upload", grpc_target, datasets[2], str(large)], token, direct)
        rss_large = vm_hwm_kb(gateway_pid)
    return UploadResult(count, gateway, sdk, rss_small, rss_large, large_side)


def render(result: UploadResult) -> str:
    lines = [f"upload: {result.expected_files} images of {FILE_BYTES // 1024} KiB into one dataset each"]
    header = f"{'workload':<46}{'files':>6}{'seconds':>9}{'files/s':>9}{'MiB/s':>8}{'peak RSS MiB':>14}"
    lines += [header, "-" * len(header)]
    rows = [
        (result.gateway, "gateway UploadFiles (one gRPC stream)"),
        (result.sdk, "SDK Dataset.upload_image per file"),
    ]
    if result.large is not None:
        rows.append((result.large, f"gateway UploadFiles, {LARGE_FILES} files of {LARGE_BYTES // 2**20} MiB"))
    for side, label in rows:
        lines.append(
            f"{label:<46}{side.files:>6}{side.seconds:>9.2f}{side.rate:>9.1f}{side.mib_rate:>8.1f}"
            f"{side.peak_rss_kb / 1024:>14.1f}"
        )
    if result.sdk.rate:
        lines.append(f"ratio gateway / SDK files/s: {result.gateway.rate / result.sdk.rate:.2f}x (target: at least 1x)")
    small, large = result.gateway_rss_small_kb, result.gateway_rss_large_kb
    if small is not None:
        lines.append(f"gateway server peak RSS (VmHWM, since it started) after the {FILE_BYTES // 1024} KiB files: "
                     f"{small / 1024:.1f} MiB")  # fmt: skip
    if small is not None and large is not None:
        lines.append(
            f"gateway server peak RSS after {LARGE_FILES} files of {LARGE_BYTES // 2**20} MiB at once: "
            f"{large / 1024:.1f} MiB (+{(large - small) / 1024:.1f} MiB for {LARGE_FILES * LARGE_BYTES // 2**20} MiB "
            "of files: spooled, never held whole)"
        )
    for side in (result.gateway, result.sdk, *([result.large] if result.large else [])):
        calls = ", ".join(f"{name} x{count}" for name, count in side.calls.items())
        lines.append(f"upstream calls ({side.name}): {calls or 'none'}")
        if side.error:
            lines.append(f"ERROR ({side.name}): {side.error}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="one side of the upload workload (run by bench/run.py)")
    side = parser.add_mutually_exclusive_group(required=True)
    side.add_argument("--gateway-upload", nargs=3, metavar=("GRPC_TARGET", "DATASET", "DIRECTORY"))
    side.add_argument("--sdk-upload", nargs=3, metavar=("SANDBOX_URL", "DATASET", "DIRECTORY"))
    args = parser.parse_args()
    if args.gateway_upload:
        target, dataset, directory = args.gateway_upload
        print(json.dumps(gateway_upload(target, dataset, Path(directory), sys.stdin.read().strip())))
    else:
        sandbox_url, dataset, directory = args.sdk_upload
        print(json.dumps(sdk_upload(sandbox_url, sys.stdin.read(), dataset, Path(directory))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
