"""clients/python/quickstart.py run as a user would run it, against the session gateway."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN

if TYPE_CHECKING:
    from conftest import GatewayProcess

QUICKSTART = Path(__file__).resolve().parents[2] / "clients" / "python" / "quickstart.py"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def run_quickstart(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    if token is not None:
        env["ENCORD_GATEWAY_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(QUICKSTART), *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_quickstart_creates_reads_cached_lists_and_reads_error_details(
    gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    title = make_title("quickstart")
    result = run_quickstart("--target", gateway.grpc_target, "--title", title, token=gateway.token)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5, result.stdout

    created = re.fullmatch(rf"created project ({UUID})", lines[0])
    assert created, lines[0]
    project_hash = created.group(1)
    assert lines[1] == f"got project {project_hash} title={title!r} x-cache=miss"
    assert lines[2] == f"got project {project_hash} title={title!r} x-cache=hit"
    assert lines[3] == f"listed 1 project(s) titled {title!r}"
    assert lines[4].startswith("unknown project: NOT_FOUND: ")
    assert f"reason=RESOURCE_NOT_FOUND_ERROR domain={UPSTREAM_DOMAIN} " in lines[4]

    # The project is real: the REST edge sees what the example created.
    got = gateway.rest("GET", f"/v1/projects/{project_hash}")
    assert got.status == 200, got.body
    assert got.json()["title"] == title
    assert got.json()["description"] == "made by quickstart.py"


def test_quickstart_reports_a_refused_token_with_the_gateways_error_info(gateway: GatewayProcess) -> None:
    result = run_quickstart("--target", gateway.grpc_target, token="not-a-valid-token-0123456789")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "call failed: UNAUTHENTICATED: " in result.stderr
    assert f"reason=INVALID_TOKEN domain={GATEWAY_DOMAIN} " in result.stderr


def test_quickstart_without_a_token_says_how_to_give_one(gateway: GatewayProcess) -> None:
    result = run_quickstart("--target", gateway.grpc_target, token=None)
    assert result.returncode == 2
    assert "ENCORD_GATEWAY_TOKEN" in result.stderr
