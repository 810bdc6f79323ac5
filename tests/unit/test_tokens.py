"""Caller tokens authenticate the caller they were issued to, and nothing else; only hashes are stored."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from encord_gateway.access import Caller, TokenStore
from encord_gateway.access.tokens import organisation_policy


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    opened = TokenStore.open(tmp_path / "access")
    yield opened
    opened.close()


def on_disk(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file())


def caller(name: str, organisation: str) -> Caller:
    return Caller(name, organisation_policy(organisation))


def test_issued_token_authenticates_its_caller(store: TokenStore) -> None:
    issued = store.issue("billing-service", organisation="acme")
    assert issued.token.startswith("egw_")
    assert len(issued.token) >= 40
    authenticated = store.authenticate(issued.token)
    assert authenticated == caller("billing-service", "acme")
    assert authenticated.organisations == ("acme",)


def test_issued_token_is_not_in_its_repr(store: TokenStore) -> None:
    issued = store.issue("svc", organisation="acme")
    assert issued.token not in repr(issued)
    assert issued.token_id in repr(issued)


def test_tokens_are_unique_and_tell_callers_apart(store: TokenStore) -> None:
    first = store.issue("one", organisation="acme")
    second = store.issue("two", organisation="globex")
    assert first.token != second.token
    assert first.token_id != second.token_id
    assert store.authenticate(first.token) == caller("one", "acme")
    assert store.authenticate(second.token) == caller("two", "globex")


def test_wrong_token_is_rejected(store: TokenStore) -> None:
    token = store.issue("svc", organisation="acme").token
    assert store.authenticate(token[:-1]) is None
    assert store.authenticate(token + "x") is None
    assert store.authenticate(token.upper()) is None
    assert store.authenticate("egw_" + "A" * 43) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        " ",
        "x" * 100_000,
        "é" * 20,
        "токен-токен-токен",
        "\udcff" * 20,
        "\x00" * 20,
        "Bearer abc def",
        "egw_\n" + "a" * 40,
        None,
        12345,
        b"egw_bytes_not_a_string",
    ],
)
def test_garbage_never_raises(store: TokenStore, garbage: Any) -> None:
    store.issue("svc", organisation="acme")
    assert store.authenticate(cast(str, garbage)) is None


def test_database_holds_no_token_plaintext(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    with TokenStore.open(directory) as store:
        generated = store.issue("svc", organisation="acme").token
        explicit = store.issue("demo", "demo-token-0123456789", organisation="acme").token
        stored = on_disk(directory)
    for token in (generated, explicit):
        assert token.encode() not in stored
        assert token[4:20].encode() not in stored


def test_explicit_token_is_idempotent(store: TokenStore) -> None:
    token = "demo-token-0123456789"
    first = store.issue("demo-caller", token, organisation="demo")
    again = store.issue("demo-caller", token, organisation="demo")
    assert first == again
    assert first.token == token
    assert len(store.list_tokens("demo-caller")) == 1
    assert store.authenticate(token) == caller("demo-caller", "demo")


def test_explicit_token_cannot_be_claimed_by_another_caller(store: TokenStore) -> None:
    store.issue("demo-caller", "demo-token-0123456789", organisation="demo")
    with pytest.raises(ValueError, match="another caller"):
        store.issue("intruder", "demo-token-0123456789", organisation="other")
    assert store.authenticate("demo-token-0123456789") == caller("demo-caller", "demo")
    assert store.get_caller("intruder") is None


@pytest.mark.parametrize("token", ["short", "x" * 15, "has spaces in it 0123", "ünïcödé-token-0123456", "a" * 600])
def test_weak_or_unusable_explicit_tokens_are_refused(store: TokenStore, token: str) -> None:
    with pytest.raises(ValueError):
        store.issue("svc", token, organisation="acme")


@pytest.mark.parametrize(("organisation", "caller"), [("", "svc"), ("acme", ""), ("acme\n", "svc")])
def test_bad_names_are_refused(store: TokenStore, organisation: str, caller: str) -> None:
    with pytest.raises(ValueError):
        store.issue(caller, organisation=organisation)


def test_tokens_survive_reopen(tmp_path: Path) -> None:
    with TokenStore.open(tmp_path / "access") as store:
        token = store.issue("svc", organisation="acme").token
    with TokenStore.open(tmp_path / "access") as store:
        assert store.authenticate(token) == caller("svc", "acme")


def test_salt_is_per_installation(tmp_path: Path) -> None:
    token = "shared-demo-token-0123456789"
    with TokenStore.open(tmp_path / "a") as first, TokenStore.open(tmp_path / "b") as second:
        first.issue("svc", token, organisation="acme")
        second.issue("svc", token, organisation="acme")
    assert on_disk(tmp_path / "a") != on_disk(tmp_path / "b")
    with TokenStore.open(tmp_path / "b") as second:
        assert second.authenticate("egw_issued_elsewhere_000000") is None


def test_files_are_private(store: TokenStore, tmp_path: Path) -> None:
    store.issue("svc", organisation="acme")
    directory = tmp_path / "access"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_cli_token_issue_prints_a_working_token_once(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # commands refuse a data directory that does not exist
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "encord_gateway.access.commands",
            "token",
            "issue",
            "--org",
            "acme",
            "--caller",
            "billing",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert "only" in result.stderr
    assert lines[0] not in result.stderr
    with TokenStore.open(tmp_path / "data" / "access") as store:
        assert store.authenticate(lines[0]) == caller("billing", "acme")


def test_cli_token_issue_errors_exit_2(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # commands refuse a data directory that does not exist
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENCORD_GATEWAY_")}
    environment["ENCORD_GATEWAY_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "encord_gateway.access.commands", "token", "issue", "--org", "", "--caller", "x"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "organisation" in result.stderr
    assert "Traceback" not in result.stderr
