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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TokenStore]:
    opened = TokenStore.open(tmp_path / "access")
    yield opened
    opened.close()


def on_disk(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file())


def test_issued_token_authenticates_its_caller(store: TokenStore) -> None:
    token = store.issue("acme", "billing-service")
    assert token.startswith("egw_")
    assert len(token) >= 40
    assert store.authenticate(token) == Caller(name="billing-service", organisation="acme")


def test_tokens_are_unique_and_tell_callers_apart(store: TokenStore) -> None:
    first = store.issue("acme", "one")
    second = store.issue("globex", "two")
    assert first != second
    assert store.authenticate(first) == Caller("one", "acme")
    assert store.authenticate(second) == Caller("two", "globex")


def test_wrong_token_is_rejected(store: TokenStore) -> None:
    token = store.issue("acme", "svc")
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
    store.issue("acme", "svc")
    assert store.authenticate(cast(str, garbage)) is None


def test_database_holds_no_token_plaintext(tmp_path: Path) -> None:
    directory = tmp_path / "access"
    with TokenStore.open(directory) as store:
        generated = store.issue("acme", "svc")
        explicit = store.issue("acme", "demo", "demo-token-0123456789")
        stored = on_disk(directory)
    for token in (generated, explicit):
        assert token.encode() not in stored
        assert token[4:20].encode() not in stored


def test_explicit_token_is_idempotent(store: TokenStore) -> None:
    token = "demo-token-0123456789"
    assert store.issue("demo", "demo-caller", token) == token
    assert store.issue("demo", "demo-caller", token) == token
    assert store.authenticate(token) == Caller("demo-caller", "demo")


def test_explicit_token_cannot_be_claimed_by_another_caller(store: TokenStore) -> None:
    store.issue("demo", "demo-caller", "demo-token-0123456789")
    with pytest.raises(ValueError, match="another caller"):
        store.issue("other", "intruder", "demo-token-0123456789")
    assert store.authenticate("demo-token-0123456789") == Caller("demo-caller", "demo")


@pytest.mark.parametrize("token", ["short", "x" * 15, "has spaces in it 0123", "ünïcödé-token-0123456", "a" * 600])
def test_weak_or_unusable_explicit_tokens_are_refused(store: TokenStore, token: str) -> None:
    with pytest.raises(ValueError):
        store.issue("acme", "svc", token)


@pytest.mark.parametrize(("organisation", "caller"), [("", "svc"), ("acme", ""), ("acme\n", "svc")])
def test_bad_names_are_refused(store: TokenStore, organisation: str, caller: str) -> None:
    with pytest.raises(ValueError):
        store.issue(organisation, caller)


def test_tokens_survive_reopen(tmp_path: Path) -> None:
    with TokenStore.open(tmp_path / "access") as store:
        token = store.issue("acme", "svc")
    with TokenStore.open(tmp_path / "access") as store:
        assert store.authenticate(token) == Caller("svc", "acme")


def test_salt_is_per_installation(tmp_path: Path) -> None:
    token = "shared-demo-token-0123456789"
    with TokenStore.open(tmp_path / "a") as first, TokenStore.open(tmp_path / "b") as second:
        first.issue("acme", "svc", token)
        second.issue("acme", "svc", token)
    assert on_disk(tmp_path / "a") != on_disk(tmp_path / "b")
    with TokenStore.open(tmp_path / "b") as second:
        assert second.authenticate("egw_issued_elsewhere_000000") is None


def test_files_are_private(store: TokenStore, tmp_path: Path) -> None:
    store.issue("acme", "svc")
    directory = tmp_path / "access"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_cli_token_issue_prints_a_working_token_once(tmp_path: Path) -> None:
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
        assert store.authenticate(lines[0]) == Caller("billing", "acme")


def test_cli_token_issue_errors_exit_2(tmp_path: Path) -> None:
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
