"""OpenBao / HashiCorp Vault: the KV v2 storage backend and the Transit key-encryption key (via hvac)."""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from encord_gateway.vault.errors import BackendUnavailableError, SealedError, StoreConflictError, VaultError
from encord_gateway.vault.kek import WRAP_FORMAT_TRANSIT, wrap_format_name
from encord_gateway.vault.store import StoredRecord, check_cas_version

DEFAULT_KV_MOUNT = "secret"
"""Where dev-mode OpenBao mounts KV v2."""

DEFAULT_KV_PREFIX = "encord-gateway"
"""Folder under the KV mount that holds this gateway's vault; one installation per prefix."""

DEFAULT_TRANSIT_MOUNT = "transit"
DEFAULT_TRANSIT_KEY = "encord-gateway"

# Bound into every Transit ciphertext of a keyring (Transit's associated data), so that another
# application's ciphertext under the same Transit key is never accepted as our keyring.
_TRANSIT_AAD = base64.b64encode(b"encord-gateway/vault/keyring/v1").decode("ascii")

T = TypeVar("T")

_MAX_CAS_ATTEMPTS = 64
"""Check-and-set retries of one update: replicas contend on a counter a few times a minute at most."""


def _module(name: str) -> ModuleType:
    """hvac is imported on first use, so that the embedded default never needs it (nor its stubs)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise VaultError(
            "the OpenBao backend and Transit KEK need the 'hvac' package, which is not installed"
        ) from None


def make_client(url: str, token: str, timeout: float) -> Any:
    """An hvac client for `url`; the token stays inside it (hvac never prints it)."""
    return _module("hvac").Client(url=url, token=token, timeout=timeout)


def _call(what: str, where: str, action: Callable[[], T]) -> T:
    """Run one hvac call, turning its exceptions into vault errors that name the place, not the token."""
    errors = _module("hvac.exceptions")
    http = _module("requests.exceptions")
    try:
        return action()
    except (http.ConnectionError, http.Timeout, errors.VaultDown) as exc:
        raise BackendUnavailableError(f"{what}: OpenBao at {where} is unreachable ({type(exc).__name__})") from None
    except errors.Forbidden:
        raise BackendUnavailableError(f"{what}: OpenBao at {where} refused the token (permission denied)") from None
    except errors.Unauthorized:
        raise BackendUnavailableError(f"{what}: OpenBao at {where} did not accept the token") from None


class OpenBaoKvStore:
    """Vault records in OpenBao/Vault KV v2, for gateways that run as several replicas.

    Layout under `<mount>/<prefix>/`: `keyring`, `meta/<name>`, `records/<kind>/<org>/<id>`, where
    the organisation segment is base64url so that any name is one path segment. Values hold barrier
    ciphertext only; conditional writes use KV v2 check-and-set on the KV version that was read, so
    a concurrent writer between our read and our write is always detected.
    """

    def __init__(self, client: Any, *, mount: str = DEFAULT_KV_MOUNT, prefix: str = DEFAULT_KV_PREFIX) -> None:
        self._client = client
        self._mount = mount
        self._prefix = prefix.strip("/")
        self._url = str(client.url)

    @classmethod
    def connect(
        cls,
        url: str,
        token: str,
        *,
        mount: str = DEFAULT_KV_MOUNT,
        prefix: str = DEFAULT_KV_PREFIX,
        timeout: float = 5.0,
    ) -> OpenBaoKvStore:
        """No request is made here: an unreachable OpenBao shows up as a sealed vault, not a crash."""
        return cls(make_client(url, token, timeout), mount=mount, prefix=prefix)

    @property
    def name(self) -> str:
        return "openbao-kv"

    @property
    def description(self) -> str:
        return f"OpenBao KV v2 {self._url}/v1/{self._mount}/data/{self._prefix}/"

    # --- raw KV access ---------------------------------------------------------------------------

    def _kv(self) -> Any:
        return self._client.secrets.kv.v2

    def _read(self, path: str) -> tuple[int, dict[str, Any]] | None:
        """(KV version, data) of the current version, or None when absent or deleted."""
        errors = _module("hvac.exceptions")

        def read() -> tuple[int, dict[str, Any]] | None:
            try:
                response = self._kv().read_secret_version(
                    path=path, mount_point=self._mount, raise_on_deleted_version=True
                )
            except errors.InvalidPath:
                return None
            data = response["data"]
            return int(data["metadata"]["version"]), dict(data["data"] or {})

        return _call("reading from the vault", self._url, read)

    def _write(self, path: str, data: dict[str, Any], cas: int | None) -> None:
        errors = _module("hvac.exceptions")

        def write() -> None:
            try:
                self._kv().create_or_update_secret(path=path, secret=data, cas=cas, mount_point=self._mount)
            except errors.InvalidRequest as exc:
                if "check-and-set" in str(exc):
                    raise StoreConflictError(f"{path} changed since it was read; re-read and retry") from None
                raise VaultError(f"OpenBao refused a write to {self._mount}/{path}") from None

        _call("writing to the vault", self._url, write)

    def _list(self, path: str) -> list[str]:
        errors = _module("hvac.exceptions")

        def listing() -> list[str]:
            try:
                response = self._kv().list_secrets(path=path, mount_point=self._mount)
            except errors.InvalidPath:
                return []
            return [str(key) for key in response["data"]["keys"]]

        return _call("listing the vault", self._url, listing)

    def _path(self, *parts: str) -> str:
        return "/".join((self._prefix, *parts))

    def _record_path(self, kind: str, organisation: str, id: str) -> str:
        return self._path("records", _segment(kind), _encode_org(organisation), _segment(id))

    # --- Backend ---------------------------------------------------------------------------------

    def get_keyring(self) -> bytes | None:
        found = self._read(self._path("keyring"))
        return None if found is None else _b64(found[1].get("wrapped"))

    def create_keyring(self, wrapped: bytes) -> bytes:
        try:
            self._write(self._path("keyring"), {"wrapped": base64.b64encode(wrapped).decode("ascii")}, cas=0)
        except StoreConflictError:
            pass  # another replica initialised the vault first; use its keyring
        stored = self.get_keyring()
        if stored is None:
            raise VaultError("the keyring vanished right after it was created")
        return stored

    def put_keyring(self, wrapped: bytes, *, previous: bytes | None = None) -> None:
        cas: int | None = None
        if previous is not None:
            found = self._read(self._path("keyring"))
            if found is None or _b64(found[1].get("wrapped")) != previous:
                raise StoreConflictError("the keyring changed since it was read (rotated elsewhere?)")
            cas = found[0]
        self._write(self._path("keyring"), {"wrapped": base64.b64encode(wrapped).decode("ascii")}, cas=cas)

    def get_meta(self, name: str) -> str | None:
        found = self._read(self._path("meta", _segment(name)))
        return None if found is None else str(found[1].get("value", ""))

    def put_meta(self, name: str, value: str) -> None:
        self._write(self._path("meta", _segment(name)), {"value": value}, cas=None)

    def update_meta(self, name: str, change: Callable[[str | None], str]) -> str:
        """Read, change and write back with KV v2 check-and-set on the version read; a replica that wrote in
        between makes the write fail, and the change is made again on what it wrote."""
        path = self._path("meta", _segment(name))
        for _ in range(_MAX_CAS_ATTEMPTS):
            found = self._read(path)
            value = change(None if found is None else str(found[1].get("value", "")))
            try:
                self._write(path, {"value": value}, cas=0 if found is None else found[0])
            except StoreConflictError:
                continue
            return value
        raise StoreConflictError(f"{path} kept changing under {_MAX_CAS_ATTEMPTS} attempts to update it")

    def get_record(self, kind: str, organisation: str, id: str) -> StoredRecord | None:
        found = self._read(self._record_path(kind, organisation, id))
        return None if found is None else _record(found[1])

    def put_record(self, record: StoredRecord, *, cas: int | None = None) -> None:
        check_cas_version(record, cas)
        path = self._record_path(record.kind, record.organisation, record.id)
        kv_cas: int | None = None
        if cas is not None:
            found = self._read(path)
            current = 0 if found is None else _record(found[1]).version
            if current != cas:
                raise StoreConflictError(f"record {record.id} is at version {current}, not {cas}; re-read and retry")
            kv_cas = 0 if found is None else found[0]
        data = {
            "kind": record.kind,
            "organisation": record.organisation,
            "id": record.id,
            "version": record.version,
            "metadata": json.dumps(dict(record.metadata), sort_keys=True),
            "ciphertext": base64.b64encode(record.ciphertext).decode("ascii"),
        }
        self._write(path, data, cas=kv_cas)

    def list_records(self, kind: str | None = None, organisation: str | None = None) -> list[StoredRecord]:
        # KV has no query: walk kind/org folders (keys are not secret; KV lists them by design).
        kinds = [_segment(kind)] if kind is not None else [k.rstrip("/") for k in self._list(self._path("records"))]
        records: list[StoredRecord] = []
        for kind_segment in kinds:
            if organisation is not None:
                orgs = [_encode_org(organisation)]
            else:
                orgs = [o.rstrip("/") for o in self._list(self._path("records", kind_segment))]
            for org_segment in orgs:
                for id in self._list(self._path("records", kind_segment, org_segment)):
                    found = self._read(self._path("records", kind_segment, org_segment, id))
                    if found is not None:
                        records.append(_record(found[1]))
        records.sort(key=lambda r: (r.organisation, r.kind, r.id))
        return records

    def delete_record(self, kind: str, organisation: str, id: str) -> bool:
        errors = _module("hvac.exceptions")

        path = self._record_path(kind, organisation, id)
        if self._read(path) is None:
            return False

        def delete() -> None:
            try:
                # All versions go: a deleted credential's old ciphertexts must not linger in history,
                # and a later record under the same id starts again from version 1.
                self._kv().delete_metadata_and_all_versions(path=path, mount_point=self._mount)
            except errors.InvalidPath:
                pass

        _call("deleting from the vault", self._url, delete)
        return True

    def close(self) -> None:
        adapter = getattr(self._client, "adapter", None)
        if adapter is not None:
            adapter.close()

    def __repr__(self) -> str:
        return f"OpenBaoKvStore(url={self._url!r}, mount={self._mount!r}, prefix={self._prefix!r})"


class TransitKek:
    """The keyring wrapped and unwrapped by OpenBao/Vault Transit; the KEK itself never leaves OpenBao."""

    def __init__(self, client: Any, *, mount: str = DEFAULT_TRANSIT_MOUNT, key: str = DEFAULT_TRANSIT_KEY) -> None:
        self._client = client
        self._mount = mount
        self._key = key
        self._url = str(client.url)

    @classmethod
    def connect(
        cls,
        url: str,
        token: str,
        *,
        mount: str = DEFAULT_TRANSIT_MOUNT,
        key: str = DEFAULT_TRANSIT_KEY,
        timeout: float = 5.0,
    ) -> TransitKek:
        return cls(make_client(url, token, timeout), mount=mount, key=key)

    @property
    def description(self) -> str:
        return f"OpenBao Transit key {self._mount}/{self._key} at {self._url}"

    def ensure_key(self) -> None:
        """Create the Transit key when missing (first start of a new vault); needs create permission."""
        errors = _module("hvac.exceptions")

        def ensure() -> None:
            try:
                self._client.secrets.transit.read_key(name=self._key, mount_point=self._mount)
            except errors.InvalidPath:
                self._client.secrets.transit.create_key(
                    name=self._key, key_type="aes256-gcm96", mount_point=self._mount
                )

        self._sealing_call("cannot prepare", ensure)

    def wrap(self, keyring: bytes) -> bytes:
        def encrypt() -> bytes:
            response = self._client.secrets.transit.encrypt_data(
                name=self._key,
                plaintext=base64.b64encode(keyring).decode("ascii"),
                associated_data=_TRANSIT_AAD,
                mount_point=self._mount,
            )
            return str(response["data"]["ciphertext"]).encode("ascii")

        return bytes([WRAP_FORMAT_TRANSIT]) + self._sealing_call("cannot wrap the keyring with", encrypt)

    def unwrap(self, wrapped: bytes) -> bytes:
        errors = _module("hvac.exceptions")

        if wrapped[:1] != bytes([WRAP_FORMAT_TRANSIT]):
            raise SealedError(
                f"the stored keyring was wrapped by {wrap_format_name(wrapped)}, not by {self.description}; "
                "configure the key-encryption key that initialised this vault"
            )

        def decrypt() -> bytes:
            try:
                response = self._client.secrets.transit.decrypt_data(
                    name=self._key,
                    ciphertext=wrapped[1:].decode("ascii"),
                    associated_data=_TRANSIT_AAD,
                    mount_point=self._mount,
                )
            except (errors.InvalidRequest, errors.InvalidPath, UnicodeDecodeError):
                raise SealedError(
                    f"{self.description} does not unseal this vault (wrong or missing Transit key); "
                    "configure the Transit key that initialised the vault"
                ) from None
            return base64.b64decode(response["data"]["plaintext"])

        return self._sealing_call("cannot unwrap the keyring with", decrypt)

    def _sealing_call(self, what: str, action: Callable[[], T]) -> T:
        # Any failure to reach Transit seals the vault (the gateway keeps retrying); it never crashes it.
        try:
            return _call(f"{what} {self.description}", self._url, action)
        except BackendUnavailableError as exc:
            raise SealedError(f"{exc}; the vault unseals once Transit answers") from None
        except (binascii.Error, KeyError, ValueError):
            raise SealedError(f"{what} {self.description}: unexpected answer from Transit") from None

    def __repr__(self) -> str:
        return f"TransitKek(url={self._url!r}, mount={self._mount!r}, key={self._key!r})"


def _segment(value: str) -> str:
    if not value or "/" in value or value in (".", ".."):
        raise VaultError(f"{value!r} cannot be a KV path segment")
    return value


def _encode_org(organisation: str) -> str:
    return base64.urlsafe_b64encode(organisation.encode("utf-8")).decode("ascii").rstrip("=") or "_"


def _b64(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError("a stored value in OpenBao is not valid base64") from None


def _record(data: dict[str, Any]) -> StoredRecord:
    try:
        return StoredRecord(
            str(data["kind"]),
            str(data["organisation"]),
            str(data["id"]),
            int(data["version"]),
            json.loads(str(data["metadata"])),
            _b64(data["ciphertext"]),
        )
    except (KeyError, ValueError, TypeError):
        raise VaultError("a record stored in OpenBao is malformed") from None
