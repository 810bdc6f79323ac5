"""Proto hygiene with buf (npm @bufbuild/buf, installed in clients/node): `lint`, and `breaking` against a release.

    python tools/buf_check.py lint
    python tools/buf_check.py breaking [--against REF | --against-dir DIR]

`breaking` compares protos/ with the protos of REF (default: the most recent git tag). With no tag yet
it says so and passes: there is no release to stay compatible with. The old protos are built in a
scratch buf workspace that has the same google/api and google/rpc module as buf.yaml's.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / "clients" / "node" / "node_modules" / ".bin" / "buf"
GOOGLEAPIS = ROOT / "clients" / "node" / "node_modules" / "google-proto-files"
SCRATCH_WORKSPACE = """version: v2
modules:
  - path: protos
  - path: googleapis
    includes: [googleapis/google/api, googleapis/google/rpc]
"""


def buf(*args: str, cwd: Path = ROOT) -> int:
    if not BUF.exists():
        print(f"{BUF} is missing: run `npm ci` in clients/node (make lint does)", file=sys.stderr)
        return 2
    return subprocess.run([str(BUF), *args], cwd=cwd, check=False).returncode


def last_tag() -> str | None:
    found = subprocess.run(
        ["git", "describe", "--tags", "--abbrev=0"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip() or None if found.returncode == 0 else None


def protos_at(ref: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "protos"], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"cannot read protos/ at {ref}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def breaking(against_ref: str | None, against_dir: Path | None) -> int:
    if against_dir is None and against_ref is None:
        against_ref = last_tag()
        if against_ref is None:
            print("buf breaking: no release tag yet, so there is nothing to stay compatible with; "
                  "once a release is tagged (git tag v0.1.0), this compares protos/ with it")  # fmt: skip
            return 0
    with tempfile.TemporaryDirectory() as scratch:
        workspace = Path(scratch)
        if against_dir is not None:
            (workspace / "protos").symlink_to(against_dir.resolve())
        else:
            assert against_ref is not None
            protos_at(against_ref, workspace)
        (workspace / "googleapis").symlink_to(GOOGLEAPIS)
        (workspace / "buf.yaml").write_text(SCRATCH_WORKSPACE)
        image = workspace / "against.binpb"
        if buf("build", "protos", "-o", str(image), cwd=workspace) != 0:
            print(f"buf breaking: the protos of {against_ref or against_dir} do not build", file=sys.stderr)
            return 2
        print(f"buf breaking: protos/ against {against_ref or against_dir}")
        return buf("breaking", "protos", "--against", str(image))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lint", help="buf lint protos/ (STANDARD rules, with buf.yaml's documented exceptions)")
    check = commands.add_parser("breaking", help="buf breaking: protos/ against a release")
    source = check.add_mutually_exclusive_group()
    source.add_argument("--against", metavar="REF", help="a git ref (default: the most recent tag)")
    source.add_argument("--against-dir", type=Path, metavar="DIR", help="a protos folder to compare with")
    args = parser.parse_args(argv)
    if args.command == "lint":
        return buf("lint", "protos")
    return breaking(args.against, args.against_dir)


if __name__ == "__main__":
    sys.exit(main())
