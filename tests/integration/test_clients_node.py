"""clients/node/client.js (@grpc/grpc-js) installed with npm and run against the session gateway.

Node and npm are required, not optional: without them these tests fail (CI has both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN

if TYPE_CHECKING:
    from conftest import GatewayProcess

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "node"
NPM_INSTALL_SECONDS = 300
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def required_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH; the Node client example needs Node.js 18+ and npm")
    return found


@pytest.fixture(scope="module")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of clients/node with its dependencies installed by `npm install` (the work tree stays clean)."""
    required_tool("node")
    npm = required_tool("npm")
    directory = tmp_path_factory.mktemp("node-client")
    for name in ("package.json", "package-lock.json", "client.js"):
        shutil.copy2(CLIENT / name, directory / name)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=NPM_INSTALL_SECONDS,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield directory


def run_client(directory: Path, gateway: GatewayProcess, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    env["ENCORD_GATEWAY_TOKEN"] = token
    env["PYTHON"] = sys.executable  # compiles the repository's protos with this interpreter's grpcio-tools
    command = ["node", str(directory / "client.js"), "--target", gateway.grpc_target, "--protos", str(REPO / "protos")]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, env=env, check=False)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def check_create_get_and_not_found(output: str, gateway: GatewayProcess, title: str) -> None:
    create, first, second, unknown = json_lines(output)
    assert create["call"] == "CreateProject"
    project_hash = create["response"]["project_hash"]
    assert UUID.fullmatch(project_hash)
    for got, cache in ((first, "miss"), (second, "hit")):
        assert got["call"] == "GetProject"
        assert got["x_cache"] == cache
        assert got["response"] == {"project_hash": project_hash, "title": title, "description": "made by client.js"}
    assert unknown["call"] == "GetProject"
    assert unknown["error"]["code"] == "NOT_FOUND"
    assert unknown["error"]["reason"] == "RESOURCE_NOT_FOUND_ERROR"
    assert unknown["error"]["domain"] == UPSTREAM_DOMAIN
    assert unknown["error"]["metadata"] == {"operation": "project GET"}
    # The project is real: the REST edge sees what the Node client created.
    assert gateway.rest("GET", f"/v1/projects/{project_hash}").json()["title"] == title


def test_node_client_creates_and_reads_a_project_and_decodes_error_info(
    node_client: Path, gateway: GatewayProcess, make_title: Any
) -> None:
    title = make_title("node")
    result = run_client(node_client, gateway, "--title", title, token=gateway.token)
    assert result.returncode == 0, result.stdout + result.stderr
    check_create_get_and_not_found(result.stdout, gateway, title)


def test_node_client_runs_from_a_prebuilt_descriptor_set(
    node_client: Path, gateway: GatewayProcess, make_title: Any, tmp_path: Path
) -> None:
    """What a deployed Node service does: ship the descriptor set built by the protoc command in clients/README.md."""
    import google.api
    import grpc_tools

    descriptor_set = tmp_path / "gateway.binpb"
    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    well_known = Path(next(iter(grpc_tools.__path__))) / "_proto"
    built = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'protos'}", f"-I{googleapis}", f"-I{well_known}",
         "--include_imports", f"--descriptor_set_out={descriptor_set}", "encord/gateway/v1/projects.proto",
         "google/rpc/status.proto", "google/rpc/error_details.proto"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr

    title = make_title("node-descriptors")
    result = run_client(
        node_client, gateway, "--title", title, "--descriptor-set", str(descriptor_set), token=gateway.token
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_create_get_and_not_found(result.stdout, gateway, title)


def test_node_client_reports_a_refused_token_as_json(node_client: Path, gateway: GatewayProcess) -> None:
    result = run_client(node_client, gateway, token="not-a-valid-token-0123456789")
    assert result.returncode == 1
    assert result.stdout == ""
    (error,) = json_lines(result.stderr)
    assert error["error"]["code"] == "UNAUTHENTICATED"
    assert error["error"]["reason"] == "INVALID_TOKEN"
    assert error["error"]["domain"] == GATEWAY_DOMAIN
