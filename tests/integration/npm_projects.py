"""npm projects of the repository (clients/node, tools/web) installed and built for tests, at most once per input.

`npm ci` runs when package-lock.json changed since the last install (a stamp in node_modules holds its
hash); a build runs when any of its inputs changed since the last build. Both are what `make` does for
a person; a fresh clone runs them once, later runs find them done. Tools run with a PATH holding only
node and npm, so nothing Python can slip into a Node build or run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

NPM_SECONDS = 600
INSTALL_STAMP = ".installed-lock-sha256"
BUILD_STAMP = ".built-inputs-sha256"


def node_only_path(directory: Path) -> str:
    """A PATH with node, npm and sh only (symlinks in `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("node", "npm", "npx", "sh"):  # npm runs its scripts with sh
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is not on PATH; the Node tests need Node.js 20+ and npm")
        link = directory / name
        if not link.exists():
            link.symlink_to(found)
    return str(directory)


def node_env(bin_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR", "npm_config_cache")}
    return {**keep, "PATH": node_only_path(bin_dir), **(extra or {})}


def _digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _npm(project: Path, bin_dir: Path, *args: str) -> None:
    result = subprocess.run(
        ["npm", *args],
        cwd=project,
        env=node_env(bin_dir),
        capture_output=True,
        text=True,
        timeout=NPM_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"npm {' '.join(args)} in {project}:\n{result.stdout}\n{result.stderr}"


def npm_ci(project: Path, bin_dir: Path) -> None:
    """`npm ci` unless node_modules was installed from this very package-lock.json."""
    lock = hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()  # as the Makefile writes it
    stamp = project / "node_modules" / INSTALL_STAMP
    if stamp.exists() and stamp.read_text() == lock:
        return
    _npm(project, bin_dir, "ci", "--no-audit", "--no-fund")
    stamp.write_text(lock)


def npm_run(project: Path, bin_dir: Path, script: str, inputs: Iterable[Path], output: Path) -> None:
    """`npm run SCRIPT` unless `output` was built from exactly these inputs."""
    files = [path for root in inputs for path in (root.rglob("*") if root.is_dir() else [root]) if path.is_file()]
    digest = _digest(files)
    stamp = output / BUILD_STAMP
    if stamp.exists() and stamp.read_text() == digest:
        return
    _npm(project, bin_dir, "run", script)
    stamp.write_text(digest)
