"""clients/python built into a wheel from the protos, installed into a fresh virtual environment, run against a gateway.

The wheel is built now, offline (`pip wheel --no-build-isolation --no-index`, with this interpreter's
setuptools and grpcio-tools), from a copy of clients/python, so the work tree stays clean. The fresh
environment has no pip and no packages of its own: it sees this interpreter's site-packages through a
.pth line (what --system-site-packages would give), which makes grpcio and protobuf importable but not
the gateway, whose editable install is a .pth hook of that folder and is not run from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord_gateway.errors import GATEWAY_DOMAIN, UPSTREAM_DOMAIN

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "clients" / "python"
BUILD_SECONDS = 180


@dataclass(frozen=True)
class ClientVenv:
    python: Path
    wheel: Path

    def run(
        self, script: Path | str, *args: str, env: dict[str, str], code: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run a file (or, with code=True, a program text) with the fresh interpreter, outside the repository."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENCORD_GATEWAY_", "PYTHON"))}
        command = [str(self.python), "-c", str(script)] if code else [str(self.python), str(script)]
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**clean, **env},
            cwd=self.python.parent,
            check=False,
        )


def _pip(*args: str, python: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            *args,
            "--no-index",
            "--no-build-isolation",
            "--quiet",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> ClientVenv:
    root = tmp_path_factory.mktemp("python-client")
    source = root / "source"
    shutil.copytree(
        CLIENT, source, ignore=shutil.ignore_patterns("_proto", "_services.py", "build", "*.egg-info", "__pycache__")
    )
    protos = {"ENCORD_GATEWAY_PROTOS": str(REPO / "protos")}  # where generate.py finds them in the copy
    _pip(
        "wheel",
        "--no-deps",
        "--wheel-dir",
        str(root / "wheels"),
        str(source),
        python=Path(sys.executable),
        cwd=root,
        env=protos,
    )
    (wheel,) = (root / "wheels").glob("encord_gateway_client-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(fresh_site, "test-interpreter.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _pip("install", str(wheel), python=python, cwd=root)
    return ClientVenv(python, wheel)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_wheel_holds_the_client_and_generated_stubs_and_no_gateway_code(client_venv: ClientVenv) -> None:
    names = zipfile.ZipFile(client_venv.wheel).namelist()
    packages = {name.split("/", 1)[0] for name in names}
    assert packages == {"encord_gateway_client", client_venv.wheel.name.split("-py3")[0] + ".dist-info"}, packages
    # Every proto file of the repository became a module, whatever the domains added.
    for proto in (REPO / "protos").rglob("*.proto"):
        module = "encord_gateway_client/_proto/" + str(proto.relative_to(REPO / "protos")).replace(".proto", "_pb2.py")
        assert module in names, module
    assert "encord_gateway_client/py.typed" in names


def test_the_fresh_environment_imports_the_client_but_not_the_gateway(client_venv: ClientVenv) -> None:
    probe = (
        "import importlib.util, json, encord_gateway_client as c\n"
        "print(json.dumps({'client': c.__file__, 'gateway': importlib.util.find_spec('encord_gateway') is not None,"
        " 'services': list(c.SERVICE_ATTRIBUTES)}))\n"
    )
    result = client_venv.run(probe, env={}, code=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["client"].startswith(str(client_venv.python.parent.parent)), found  # installed, not the source tree
    assert found["gateway"] is False
    assert {"project", "dataset", "ontology"} <= set(found["services"])


def test_quickstart_creates_gets_pages_streams_and_reads_error_info(
    client_venv: ClientVenv, gateway: GatewayProcess, make_title: Any
) -> None:
    title = make_title("py-client")
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": gateway.token}
    result = client_venv.run(CLIENT / "examples" / "quickstart.py", title, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    create, get, listed, streamed, error = json_lines(result.stdout)
    project_hash = create["project_hash"]
    assert get == {"step": "get", "title": title}
    assert listed["project_hashes"] == [project_hash]
    assert streamed["project_hashes"] == [project_hash]
    assert error == {
        "step": "error",
        "code": "NOT_FOUND",
        "reason": "RESOURCE_NOT_FOUND_ERROR",
        "domain": UPSTREAM_DOMAIN,
    }
    assert gateway.rest("GET", f"/v1/projects/{project_hash}").json()["description"] == "made by quickstart.py"


def test_iterators_follow_next_page_token_across_pages(client_venv: ClientVenv, gateway: GatewayProcess) -> None:
    prefix = f"paged-{uuid.uuid4().hex[:8]}"
    made = {
        gateway.rest("POST", "/v1/projects", body={"title": f"{prefix}-{i}"}).json()["project_hash"] for i in range(3)
    }
    program = (
        "import json, sys\nfrom encord_gateway_client import Client\n"
        "with Client.from_env() as gw:\n"
        "    pages = gw.project.list_projects(title_like=sys.argv[1] + '%', page_size=2)\n"
        "    every = [p.project_hash for p in gw.project.iter_list_projects(title_like=sys.argv[1] + '%', page_size=2)]\n"
        "print(json.dumps({'first_page': len(pages.projects), 'more': bool(pages.next_page_token), 'every': every}))\n"
    )
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": gateway.token}
    result = client_venv.run(program, prefix, env=env, code=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["first_page"] == 2 and found["more"] is True
    assert sorted(found["every"]) == sorted(made) and len(found["every"]) == 3


def test_asyncio_client_gets_pages_streams_and_raises_bad_request_fields(
    client_venv: ClientVenv, gateway: GatewayProcess, make_title: Any
) -> None:
    title = make_title("py-async")
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": gateway.token}
    result = client_venv.run(CLIENT / "examples" / "quickstart_async.py", title, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    got, listed, error = json_lines(result.stdout)
    assert got["title"] == title
    assert listed["listed"] == [got["project_hash"]] == listed["streamed"]
    assert error == {"step": "error", "code": "INVALID_ARGUMENT", "reason": error["reason"], "fields": ["dataset_hash"]}
    assert error["reason"]


def test_a_refused_token_raises_unauthenticated_with_the_gateways_reason(
    client_venv: ClientVenv, gateway: GatewayProcess
) -> None:
    program = (
        "import json\nfrom encord_gateway_client import Client, Unauthenticated\n"
        "try:\n    Client.from_env().project.list_projects()\n"
        "except Unauthenticated as e:\n    print(json.dumps({'reason': e.reason, 'domain': e.domain, 'text': str(e)}))\n"
    )
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": "not-a-valid-token-0123456789"}
    result = client_venv.run(program, env=env, code=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["reason"], found["domain"]) == ("INVALID_TOKEN", GATEWAY_DOMAIN)
    assert "not-a-valid-token" not in found["text"]


def _handled(gateway: GatewayProcess, method: str, code: str) -> float:
    """grpc_server_handled_total for one method and code, from the gateway's /metrics."""
    for line in gateway.metrics().splitlines():
        if (
            line.startswith("grpc_server_handled_total{")
            and f'grpc_method="{method}"' in line
            and f'grpc_code="{code}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_reads_are_retried_after_the_retry_info_delay_and_writes_are_not(
    client_venv: ClientVenv, gateway: GatewayProcess, gateway_kit: GatewayKit
) -> None:
    """A caller limited to one request per second: its second read is refused with RetryInfo, waited out and
    retried by the client; a refused write reaches the caller at once, as ResourceExhausted with the delay."""
    name = f"slow-{uuid.uuid4().hex[:8]}"
    policy = {
        "grants": [{"organisation": gateway.organisation, "resources": ["*"], "rights": ["read", "write"]}],
        "limits": {"requests_per_second": 1, "burst": 1},
    }
    gateway_kit.create_caller(gateway.data_dir, name, policy)
    token, _ = gateway_kit.issue_token(gateway.data_dir, name)
    project_hash = gateway.rest("POST", "/v1/projects", body={"title": f"{name}-p"}).json()["project_hash"]
    before = {
        (method, code): _handled(gateway, method, code)
        for method in ("GetProject", "CreateProject")
        for code in ("OK", "RESOURCE_EXHAUSTED")
    }
    program = (
        "import json, sys\nfrom encord_gateway_client import Client, ResourceExhausted\n"
        "gw = Client.from_env()\n"
        "titles = [gw.project.get_project(project_hash=sys.argv[1]).title for _ in range(2)]\n"
        "try:\n    gw.project.create_project(title='never made')\n    refused = None\n"
        "except ResourceExhausted as e:\n    refused = {'reason': e.reason, 'delay': e.retry_delay, 'id': e.request_id}\n"
        "print(json.dumps({'titles': titles, 'refused': refused}))\n"
    )
    env = {"ENCORD_GATEWAY_TARGET": gateway.grpc_target, "ENCORD_GATEWAY_TOKEN": token}
    result = client_venv.run(program, project_hash, env=env, code=True)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["titles"] == [f"{name}-p"] * 2
    assert found["refused"]["delay"] > 0 and found["refused"]["reason"]
    uuid.UUID(found["refused"]["id"])  # every write carries a request id, generated when the caller gives none

    def grew(method: str, code: str) -> float:
        return _handled(gateway, method, code) - before[(method, code)]

    assert (grew("GetProject", "OK"), grew("GetProject", "RESOURCE_EXHAUSTED")) == (2, 1)  # one refusal, retried
    assert (grew("CreateProject", "OK"), grew("CreateProject", "RESOURCE_EXHAUSTED")) == (0, 1)  # never retried
