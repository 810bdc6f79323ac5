"""A policy right naming a method is checked against the catalog when the policy is set (CLI and admin API).

Before, `ProjectService.DeleteProject` (no such RPC) was accepted and silently granted nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.admin.v1 import callers_pb2
from encord_gateway.access import TokenStore
from encord_gateway.access.policy import PolicyError, check_methods, parse_policy
from encord_gateway.admin.handlers import AdminService
from encord_gateway.errors import GatewayError
from encord_gateway.operations.catalog import load_catalog
from encord_gateway.pipeline import AdminCall
from google.protobuf import json_format

SPECS = load_catalog()
CALL = AdminCall("ops", None, "encord.gateway.admin.v1.CallerAdminService.CreateCaller")


def policy(*rights: str) -> dict[str, Any]:
    return {"grants": [{"organisation": "acme", "resources": ["*"], "rights": list(rights)}]}


@pytest.mark.parametrize(
    "rights",
    [
        ("read", "write"),
        ("ProjectService.GetProject",),
        ("encord.gateway.v1.ProjectService.GetProject", "DatasetService.ListDatasets"),
        ("CallerAdminService.ListCallers",),
    ],
)
def test_rights_naming_real_methods_or_classes_are_accepted(rights: tuple[str, ...]) -> None:
    check_methods(parse_policy(policy(*rights)), SPECS)


def test_a_right_naming_a_method_that_does_not_exist_is_refused_with_a_hint() -> None:
    with pytest.raises(PolicyError) as refused:
        check_methods(parse_policy(policy("read", "ProjectService.DeleteProject")), SPECS)
    message = str(refused.value)
    assert "grants[0].rights: 'ProjectService.DeleteProject' is not a method of the gateway's API" in message
    assert "did you mean ProjectService." in message


def test_a_method_of_the_wrong_service_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"'DatasetService\.GetProject' is not a method"):
        check_methods(parse_policy(policy("DatasetService.GetProject")), SPECS)


def run_cli(data_dir: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "encord_gateway.cli", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        input=stdin,
        env=environment,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["create", "set-policy"])
def test_the_cli_refuses_a_policy_naming_an_unknown_method_and_changes_nothing(tmp_path: Path, command: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()  # the CLI refuses a data directory that does not exist
    if command == "set-policy":
        created = run_cli(
            data_dir, "caller", "create", "--name", "svc", "--policy-file", "-", stdin=json.dumps(policy("read"))
        )
        assert created.returncode == 0, created.stderr
    refused = run_cli(
        data_dir, "caller", command, "--name", "svc", "--policy-file", "-",
        stdin=json.dumps(policy("ProjectService.DeleteProject")),
    )  # fmt: skip
    assert refused.returncode != 0
    assert "'ProjectService.DeleteProject' is not a method of the gateway's API" in refused.stderr
    assert "Traceback" not in refused.stderr
    with TokenStore.open(data_dir / "access") as store:
        found = store.get_caller("svc")
    if command == "create":
        assert found is None
    else:
        assert found is not None and found.policy == parse_policy(policy("read"))


async def test_the_admin_api_refuses_a_policy_naming_an_unknown_method(tmp_path: Path) -> None:
    with TokenStore.open(tmp_path / "access") as store:
        admin = AdminService(None, store, None, None, SPECS, None, lambda _: None)  # type: ignore[arg-type]
        request = json_format.ParseDict(
            {"name": "svc", "policy": policy("ProjectService.DeleteProject")}, callers_pb2.CreateCallerRequest()
        )
        with pytest.raises(GatewayError) as refused:
            await admin.create_caller(request, CALL)
        assert (refused.value.code, refused.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_POLICY")
        assert "'ProjectService.DeleteProject' is not a method" in refused.value.message
        assert store.get_caller("svc") is None
