"""Proto hygiene: `buf lint` is clean, and `buf breaking` compares protos/ with a release (tools/buf_check.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from npm_projects import npm_ci

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "tools" / "buf_check.py"


@pytest.fixture(scope="module")
def buf_installed(tmp_path_factory: pytest.TempPathFactory) -> None:
    npm_ci(REPO / "clients" / "node", tmp_path_factory.mktemp("node-bin"))  # buf and the google protos


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


def test_buf_lint_is_clean(buf_installed: None) -> None:
    result = check("lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def _releases() -> list[str]:
    tags = subprocess.run(["git", "tag", "--sort=-creatordate"], cwd=REPO, capture_output=True, text=True, check=False)
    return tags.stdout.split()[:1]


@pytest.mark.parametrize("ref", ["HEAD", *_releases()])
def test_protos_stay_compatible_with_the_last_commit_and_the_last_release(buf_installed: None, ref: str) -> None:
    result = check("breaking", "--against", ref)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"against {ref}" in result.stdout


def test_breaking_check_names_a_field_a_release_had_and_the_protos_dropped(buf_installed: None, tmp_path: Path) -> None:
    """The release's protos (a copy) had one more field in GetProjectRequest: dropping it is a breaking change."""
    released = tmp_path / "protos"
    shutil.copytree(REPO / "protos", released)
    projects = released / "encord" / "gateway" / "v1" / "projects.proto"
    text, count = re.subn(
        r"(message GetProjectRequest \{\n)", r"\1  string dropped_since_release = 99;\n", projects.read_text()
    )
    assert count == 1
    projects.write_text(text)
    result = check("breaking", "--against-dir", str(released))
    assert result.returncode != 0
    assert "dropped_since_release" in result.stdout + result.stderr
