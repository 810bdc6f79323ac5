"""clients/curl/examples.sh and clients/grpcurl/examples.sh run with bash against the session gateway."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import GatewayProcess

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def run_script(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is not on PATH")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    return subprocess.run(
        [bash, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        check=False,
    )


def sections(output: str) -> dict[str, str]:
    """The script's output by step: '== heading' lines start a step."""
    found: dict[str, str] = {}
    heading = ""
    for line in output.splitlines():
        if line.startswith("== "):
            heading = line[3:]
            found[heading] = ""
        elif heading:
            found[heading] += line + "\n"
    return found


def test_curl_examples_all_succeed_against_the_gateway(gateway: GatewayProcess) -> None:
    suffix = f"curl-{os.getpid()}-{os.urandom(4).hex()}"
    result = run_script(
        CLIENTS / "curl" / "examples.sh",
        gateway.rest_url,
        gateway.token,
        gateway.metrics_url,
        env={"ENCORD_EXAMPLES_SUFFIX": suffix},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = sections(result.stdout)
    assert list(steps)[-1] == "all calls succeeded"

    project_hash = re.search(rf'"project_hash": "({UUID})"', steps["POST /v1/projects"]).group(1)  # type: ignore[union-attr]
    cached = steps[f"GET /v1/projects/{project_hash} (x-cache: miss, then hit)"]
    assert re.findall(r"^x-cache: (\w+)", cached, flags=re.MULTILINE) == ["miss", "hit"]
    assert f'"title": "Cars {suffix}"' in steps[f"GET /v1/projects?title_like=%{suffix}%"]

    dataset_hash = re.search(rf'"dataset_hash": "({UUID})"', steps["POST /v1/datasets"]).group(1)  # type: ignore[union-attr]
    assert dataset_hash in steps[f"GET /v1/datasets/{dataset_hash}"]
    assert dataset_hash in steps[f"GET /v1/datasets?title_eq=Street scenes {suffix}"]

    ontology_hash = re.search(rf'"ontology_hash": "({UUID})"', steps["POST /v1/ontologies"]).group(1)  # type: ignore[union-attr]
    assert '"name": "Car"' in steps[f"GET /v1/ontologies/{ontology_hash}"]

    error = steps["GET /v1/projects/<unknown> (an error, expected: HTTP 404)"]
    assert '"reason": "RESOURCE_NOT_FOUND_ERROR"' in error
    assert error.rstrip().endswith("HTTP 404")

    metrics_base = gateway.metrics_url.removesuffix("/metrics")
    assert '"ready": true' in steps[f"GET {metrics_base}/readyz"]
    assert "grpc_server_handled_total{" in steps[f"GET {gateway.metrics_url}"]

    # What the script created exists for the gateway, not only in its output.
    assert gateway.rest("GET", f"/v1/ontologies/{ontology_hash}").status == 200


def test_curl_examples_stop_at_the_first_failed_call(gateway: GatewayProcess) -> None:
    result = run_script(CLIENTS / "curl" / "examples.sh", gateway.rest_url, "not-a-valid-token-0123456789")
    assert result.returncode != 0
    assert "all calls succeeded" not in result.stdout
    assert '"reason": "INVALID_TOKEN"' in result.stderr  # the refused call's google.rpc.Status


def test_grpcurl_examples_all_succeed_against_the_gateway(gateway: GatewayProcess, grpcurl: str) -> None:
    result = run_script(
        CLIENTS / "grpcurl" / "examples.sh",
        gateway.grpc_target,
        env={"ENCORD_GATEWAY_TOKEN": gateway.token, "GRPCURL": grpcurl},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = sections(result.stdout)
    assert list(steps)[-1] == "all calls succeeded"
    assert "encord.gateway.v1.ProjectService" in steps["list (server reflection)"]
    projects = "encord.gateway.v1.ProjectService"
    cached = steps[f"{projects}/GetProject (-v shows the response headers: x-cache miss, then hit)"]
    assert re.findall(r"^x-cache: (\w+)", cached, flags=re.MULTILINE) == ["miss", "hit"]
    assert '"project_hash"' in steps[f"{projects}/ListProjects"]
    assert '"code": 5' in steps[f"{projects}/GetProject of an unknown project (an error, expected: NOT_FOUND)"]


def test_reflection_answers_over_grpc_reflection_v1_and_v1alpha(gateway: GatewayProcess, grpcurl: str) -> None:
    from grpc_reflection.v1alpha import reflection_pb2  # v1's messages are the same bytes under another package

    listed = subprocess.run(
        [grpcurl, "-plaintext", "-max-time", "15", gateway.grpc_target, "list"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= services
    assert "encord.gateway.v1.ProjectService" in services

    for package in ("v1", "v1alpha"):
        with gateway.channel() as channel:
            call = channel.stream_stream(
                f"/grpc.reflection.{package}.ServerReflection/ServerReflectionInfo",
                request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
            )
            (answer,) = list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
        names = {service.name for service in answer.list_services_response.service}
        assert names == services, package
