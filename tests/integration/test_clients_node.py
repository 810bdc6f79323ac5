"""clients/node installed with `npm ci`, built from the protos (buf + ts-proto + tsc) and run against a gateway.

Node and npm are required, not optional: without them these tests fail (CI has both). Build and run
see a PATH with node and npm only: the package needs no Python to build or to run.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN
from npm_projects import node_env, npm_ci, npm_run

if TYPE_CHECKING:
    from conftest import GatewayProcess

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "clients" / "node"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def node_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-bin")


@pytest.fixture(scope="module")
def built(node_bin: Path) -> Path:
    """clients/node installed and built (both skipped when nothing they read changed)."""
    npm_ci(PACKAGE, node_bin)
    inputs = [REPO / "protos", REPO / "buf.yaml", PACKAGE / "buf.gen.yaml", PACKAGE / "scripts", PACKAGE / "tsconfig.json",
              PACKAGE / "package-lock.json", *(p for p in (PACKAGE / "src").rglob("*.ts") if "gen" not in p.parts)]  # fmt: skip
    (PACKAGE / "dist").mkdir(exist_ok=True)
    npm_run(PACKAGE, node_bin, "build", inputs, PACKAGE / "dist")
    return PACKAGE / "dist"


def run_node(
    node_bin: Path, script: Path | str, *args: str, env: dict[str, str], code: bool = False
) -> subprocess.CompletedProcess[str]:
    command = ["node", "-e", str(script)] if code else ["node", str(script)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=node_env(node_bin, env),
        cwd=PACKAGE,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_rpc_of_the_protos_is_in_the_built_package(built: Path, node_bin: Path) -> None:
    program = (
        "const c = require('./dist'); const out = {};"
        "const walk = (ns) => { for (const [name, value] of Object.entries(ns)) {"
        " if (name.endsWith('ServiceDefinition')) out[value.fullName] = Object.values(value.methods).map(m => m.name);"
        " else if (value && typeof value === 'object' && !('encode' in value)) walk(value); } };"
        "walk(c.encord); console.log(JSON.stringify(out));"
    )
    result = run_node(node_bin, program, env={}, code=True)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)
    declared: dict[str, set[str]] = {}
    for proto in (REPO / "protos").rglob("*.proto"):
        text = proto.read_text()
        package = re.search(r"^package ([\w.]+);", text, re.MULTILINE).group(1)  # type: ignore[union-attr]
        for service, body in re.findall(r"^service (\w+) \{(.*?)^\}", text, re.MULTILINE | re.DOTALL):
            declared[f"{package}.{service}"] = set(re.findall(r"^\s*rpc (\w+)\(", body, re.MULTILINE))
    assert {name: set(methods) for name, methods in services.items()} == declared


def test_quickstart_creates_gets_pages_streams_and_reads_error_info(
    built: Path, node_bin: Path, gateway: GatewayProcess, make_title: Any
) -> None:
    title = make_title("node-client")
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": gateway.token}
    result = run_node(node_bin, built / "examples" / "quickstart.js", title, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    create, got, listed, error = json_lines(result.stdout)
    project_hash = create["projectHash"]
    assert UUID.fullmatch(project_hash)
    assert got == {"step": "get", "title": title}
    assert listed == {"step": "list", "listed": [project_hash], "streamed": [project_hash]}
    assert re.fullmatch(r"[0-9a-f]{32}", error["metadata"].pop("request_id"))  # the gateway named the call
    assert error == {"step": "error", "code": "NOT_FOUND", "reason": "RESOURCE_NOT_FOUND_ERROR",
                     "domain": UPSTREAM_DOMAIN, "metadata": {"operation": "project GET"}}  # fmt: skip
    assert gateway.rest("GET", f"/v1/projects/{project_hash}").json()["description"] == "made by quickstart.ts"


def test_pager_follows_next_page_token_across_pages(built: Path, node_bin: Path, gateway: GatewayProcess) -> None:
    prefix = f"node-paged-{uuid.uuid4().hex[:8]}"
    made = {
        gateway.rest("POST", "/v1/projects", body={"title": f"{prefix}-{i}"}).json()["project_hash"] for i in range(3)
    }
    program = (
        "const { connect, encord } = require('./dist');"
        "(async () => { const gw = connect(); const p = gw.service(encord.gateway.v1.ProjectServiceDefinition);"
        " const page = await p.listProjects({ titleLike: process.argv[1] + '%', pageSize: 2 }); const every = [];"
        " for await (const x of gw.paginate(p.listProjects, { titleLike: process.argv[1] + '%', pageSize: 2 }, 'projects'))"
        " every.push(x.projectHash);"
        " console.log(JSON.stringify({ first: page.projects.length, more: page.nextPageToken !== '', every })); gw.close(); })();"
    )
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": gateway.token}
    result = run_node(node_bin, program, prefix, env=env, code=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["first"], found["more"]) == (2, True)
    assert sorted(found["every"]) == sorted(made)


def test_a_refused_token_is_a_gateway_error_with_the_gateways_reason(
    built: Path, node_bin: Path, gateway: GatewayProcess
) -> None:
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": "not-a-valid-token-0123456789"}
    result = run_node(node_bin, built / "examples" / "quickstart.js", env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    (error,) = json_lines(result.stderr)
    assert error == {"error": {"code": "UNAUTHENTICATED", "reason": "INVALID_TOKEN", "domain": GATEWAY_DOMAIN}}
