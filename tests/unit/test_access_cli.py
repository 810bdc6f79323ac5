"""`encord-gateway caller ...` and `token ...`: the whole lifecycle from a shell, errors without tracebacks or tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from encord_gateway.access import TokenStore

POLICY = {"grants": [{"organisation": "acme", "resources": ["project:p1"], "rights": ["read"]}]}
WIDER = {"grants": [{"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]}]}


def run_cli(*args: str, stdin: str | None = None, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    if data_dir is not None:
        environment["ENCORD_GATEWAY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "encord_gateway.access.commands", *args],
        capture_output=True,
        text=True,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env=environment,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def test_caller_and_token_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    Path(data).mkdir()  # commands refuse a data directory that does not exist
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY))

    created = json.loads(
        ok(
            run_cli("caller", "create", "--name", "reader", "--policy-file", str(policy_file), "--data-dir", data)
        ).stdout
    )
    assert created["name"] == "reader"
    assert created["policy"] == POLICY

    ok(run_cli("caller", "map-cert", "--identity", "DNS:reader.internal", "--name", "reader", "--data-dir", data))
    shown = json.loads(ok(run_cli("caller", "show", "--name", "reader", "--data-dir", data)).stdout)
    assert shown["certificate_identities"] == ["DNS:reader.internal"]

    ok(
        run_cli(
            "caller",
            "set-policy",
            "--name",
            "reader",
            "--policy-file",
            "-",
            "--data-dir",
            data,
            stdin=json.dumps(WIDER),
        )
    )
    listed = json.loads(ok(run_cli("caller", "list", "--data-dir", data)).stdout)
    assert [(c["name"], c["policy"]) for c in listed] == [("reader", WIDER)]

    issued = ok(run_cli("token", "issue", "--caller", "reader", "--expires-in", "24h", "--data-dir", data))
    token = issued.stdout.strip()
    assert len(issued.stdout.splitlines()) == 1
    assert token not in issued.stderr
    token_id = next(word for word in issued.stderr.split() if word.startswith("tok_"))

    tokens_listed = ok(run_cli("token", "list", "--caller", "reader", "--data-dir", data)).stdout
    assert token not in tokens_listed
    (entry,) = json.loads(tokens_listed)
    assert entry["token_id"] == token_id
    assert entry["expires_at"] is not None and entry["revoked_at"] is None

    with TokenStore.open(tmp_path / "data" / "access") as store:
        caller = store.authenticate(token)
        assert caller is not None and caller.name == "reader"

    ok(run_cli("token", "revoke", token_id, "--data-dir", data))
    with TokenStore.open(tmp_path / "data" / "access") as store:
        assert store.authenticate(token) is None

    ok(run_cli("caller", "delete", "--name", "reader", "--data-dir", data))
    assert json.loads(ok(run_cli("caller", "list", "--data-dir", data)).stdout) == []


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["caller", "create", "--name", "x", "--policy-file", "-"], "{not json", "JSON"),
        (["caller", "create", "--name", "x", "--policy-file", "-"], '{"grants": [{"organisation": "a"}]}', "grants[0]"),
        (["caller", "create", "--name", "x", "--policy-file", "/nonexistent/policy.json"], None, "policy.json"),
        (["caller", "set-policy", "--name", "ghost", "--policy-file", "-"], json.dumps(POLICY), "ghost"),
        (["caller", "show", "--name", "ghost"], None, "ghost"),
        (["caller", "delete", "--name", "ghost"], None, "ghost"),
        (["caller", "map-cert", "--identity", "svc-a", "--name", "ghost"], None, "certificate identity"),
        (["token", "issue", "--caller", "ghost"], None, "policy"),
        (["token", "issue", "--caller", "x", "--org", "acme", "--expires-in", "soon"], None, "duration"),
        (["token", "issue", "--caller", "x", "--org", "acme", "--expires-in", "0s"], None, "duration"),
        (["token", "revoke", "tok_000000000000"], None, "tok_000000000000"),
    ],
)
def test_operator_errors_exit_2_with_one_clear_line(
    tmp_path: Path, args: list[str], stdin: str | None, expected: str
) -> None:
    (tmp_path / "data").mkdir()  # commands refuse a data directory that does not exist
    result = run_cli(*args, stdin=stdin, data_dir=tmp_path / "data")
    assert result.returncode == 2, result.stdout
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_token_issue_with_an_organisation_outside_the_policy_prints_no_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()  # commands refuse a data directory that does not exist
    ok(run_cli("caller", "create", "--name", "reader", "--policy-file", "-", stdin=json.dumps(POLICY), data_dir=data))
    result = run_cli("token", "issue", "--caller", "reader", "--org", "globex", data_dir=data)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "egw_" not in result.stderr
    with TokenStore.open(data / "access") as store:
        assert store.list_tokens() == []
