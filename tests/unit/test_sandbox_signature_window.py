"""The sandbox's v2 signature window: a few minutes by default (§3.4), so a reused stale signature fails."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.sandbox import auth
from encord_gateway.sandbox.domains import users
from encord_gateway.sandbox.errors import ApiError
from encord_gateway.sandbox.store import Store
from encord_gateway.upstream import signing

TARGET = "/v2/public/projects"


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store(None)
    yield opened
    opened.close()


@pytest.fixture
def signer(store: Store) -> signing.Signer:
    signer = signing.Signer(Ed25519PrivateKey.generate())
    with store.transaction():
        users.register_key(store, "someone@example.com", signer.public_key_hex)
    return signer


def call(store: Store, signer: signing.Signer, age: float, environ: dict[str, str] | None = None) -> str:
    """Authenticate a GET signed `age` seconds ago; the caller's email, or the sandbox's error message."""
    headers = signing.v2_signature_headers(signer, "GET", TARGET, b"", int(time.time() - age))
    max_age = None if environ is None else auth.signature_max_age(environ)
    try:
        return auth.authenticate_v2(store, "GET", TARGET, headers, b"", max_age=max_age).user.email
    except ApiError as error:
        return str(error)


def test_a_fresh_signature_is_accepted(store: Store, signer: signing.Signer) -> None:
    assert call(store, signer, age=0) == "someone@example.com"
    assert call(store, signer, age=auth.DEFAULT_SIGNATURE_MAX_AGE_SECONDS - 30) == "someone@example.com"


@pytest.mark.parametrize("age", [auth.DEFAULT_SIGNATURE_MAX_AGE_SECONDS + 30, 3600, 5 * 3600])
def test_a_signature_older_than_a_few_minutes_is_refused(store: Store, signer: signing.Signer, age: int) -> None:
    assert "outside the accepted window" in call(store, signer, age=age)


def test_the_default_window_is_a_few_minutes() -> None:
    assert auth.signature_max_age({}) == auth.DEFAULT_SIGNATURE_MAX_AGE_SECONDS == 300


def test_the_window_is_configurable(store: Store, signer: signing.Signer) -> None:
    environ = {auth.SIGNATURE_MAX_AGE_ENV: "7200"}
    assert call(store, signer, age=3600, environ=environ) == "someone@example.com"
    assert "outside the accepted window" in call(store, signer, age=7300, environ=environ)


@pytest.mark.parametrize("raw", ["soon", "-5", "0", "1.5"])
def test_a_bad_window_setting_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match=auth.SIGNATURE_MAX_AGE_ENV):
        auth.signature_max_age({auth.SIGNATURE_MAX_AGE_ENV: raw})
