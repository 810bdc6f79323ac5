"""The CLI as a new user meets it: --version, help everywhere, one --output choice, no silent new data dirs, --ttl."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from encord_gateway import __version__
from encord_gateway.cli import build_parser

CLI = [sys.executable, "-m", "encord_gateway.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                assert helps.get(name), f"{' '.join((*path, name))} has no help line"
                found += _commands(sub, (*path, name))
    return found


def test_version_names_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"encord-gateway {__version__}"


def test_every_command_and_flag_has_help() -> None:
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"encord-gateway {' '.join(path)}: {action.option_strings or action.dest} has no help"


def test_list_commands_share_one_output_choice() -> None:
    lists = [path for path, _ in _commands(build_parser()) if path and path[-1] in ("list", "list-credentials")]
    assert {"token list", "caller list", "vault list", "vault list-credentials"} <= {" ".join(p) for p in lists}
    for path, parser in _commands(build_parser()):
        if path in [("token", "list"), ("caller", "list"), ("vault", "list"), ("vault", "list-credentials")]:
            (output,) = [a for a in parser._actions if "--output" in a.option_strings]
            assert list(output.choices) == ["table", "json"], path


@pytest.mark.parametrize(
    "args",
    [("token", "list", "--data-dir", "{d}"), ("caller", "list", "--data-dir", "{d}"), ("vault", "list", "--vault-dir", "{d}/vault"),
     ("serve", "--data-dir", "{d}")],
)  # fmt: skip
def test_a_missing_data_dir_is_refused_and_not_created(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "typo"
    result = run(*(arg.format(d=missing) for arg in args))
    assert result.returncode == 2
    assert f"data directory {missing} does not exist" in result.stderr and "--create-data-dir" in result.stderr
    assert not missing.exists()
    assert "Traceback" not in result.stderr


def test_create_data_dir_creates_it_and_tokens_take_the_apis_ttl_spelling(tmp_path: Path) -> None:
    data = tmp_path / "new"
    issued = run("token", "issue", "--caller", "svc", "--org", "acme", "--ttl", "86400s", "--data-dir", str(data),
                 "--create-data-dir")  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert data.is_dir()
    as_json = run("token", "list", "--data-dir", str(data), "--output", "json")
    (token,) = json.loads(as_json.stdout)
    expires = datetime.fromisoformat(token["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(days=1)
    table = run("token", "list", "--data-dir", str(data), "--output", "table").stdout.splitlines()
    assert table[0].split("\t") == ["TOKEN ID", "CALLER", "CREATED AT", "EXPIRES AT", "REVOKED AT"]
    row = table[1].split("\t")
    assert row[:2] == [token["token_id"], "svc"] and row[3] == token["expires_at"] and row[4] == "-"
