"""The sandbox's data model (users, projects, datasets, ontologies, API keys) and its optional JSON persistence."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

STATE_VERSION = 1

ResourceKind = Literal["project", "dataset", "ontology"]

# Role integers of §6.2; the owner of anything is its admin.
PROJECT_ADMIN = 0
DATASET_ADMIN = 0
DATASET_USER = 1
ONTOLOGY_ADMIN = 0


def now() -> datetime:
    return datetime.now(UTC)


def new_hash() -> str:
    return str(uuid.uuid4())


def empty_editor() -> dict[str, Any]:
    return {"objects": [], "classifications": []}


@dataclass
class User:
    email: str
    user_hash: str
    public_keys: list[str]
    created_at: datetime


@dataclass(kw_only=True)
class Resource:
    """What every resource has: identity, owner, members (email → role) and edit times."""

    hash: str
    title: str
    description: str
    owner: str
    members: dict[str, int]
    created_at: datetime
    last_edited_at: datetime

    def role_of(self, email: str) -> int | None:
        return self.members.get(email)

    def touch(self) -> None:
        self.last_edited_at = now()


@dataclass(kw_only=True)
class Ontology(Resource):
    editor: dict[str, Any]


@dataclass(kw_only=True)
class Dataset(Resource):
    storage_location: int = 0
    backing_folder_uuid: str | None = None
    data_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class Project(Resource):
    ontology_hash: str
    dataset_hashes: list[str]
    project_type: str = "manual_qa"
    status: str = "notStarted"
    workflow_type: str = "manual"
    source_projects: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    workflow_manager_uuid: str | None = None
    workflow_stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(kw_only=True)
class ApiKey:
    """A legacy resource API key (§5.12). Only SHA-256 digests of its secrets are kept, never the secrets.

    A master key (K-03/K-06) may hold several secrets: Encord hands the same string back on every
    get-or-create, which a store of digests cannot do, so each repeat issues one more secret for the
    same key and the earlier ones stay valid.
    """

    key_hash: str
    resource_type: Literal["project", "dataset"]
    resource_hash: str
    title: str
    scopes: list[str]
    creator: str
    master: bool
    secret_digests: list[str]
    hint: str
    created_at: datetime


R = TypeVar("R", bound=Resource)

_KINDS: dict[str, type[Resource]] = {"project": Project, "dataset": Dataset, "ontology": Ontology}
_DATETIME_FIELDS = ("created_at", "last_edited_at")


def _to_json(record: Any) -> dict[str, Any]:
    out = dict(vars(record))
    for name in _DATETIME_FIELDS:
        if name in out:
            out[name] = out[name].isoformat()
    return out


def _from_json(cls: type[Any], raw: dict[str, Any]) -> Any:
    values = dict(raw)
    for name in _DATETIME_FIELDS:
        if name in values:
            values[name] = datetime.fromisoformat(values[name])
    return cls(**values)


class Store:
    """All sandbox state. Handlers run on one event loop, so each request sees and leaves it consistent.

    Mutators mark the store dirty; the server calls `flush()` once per request, so a write is on disk
    before its response is sent.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.projects: dict[str, Project] = {}
        self.datasets: dict[str, Dataset] = {}
        self.ontologies: dict[str, Ontology] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self._key_by_digest: dict[str, ApiKey] = {}
        self._dirty = False
        if path is not None and path.exists():
            self._load(path)

    # ---- users and keys -------------------------------------------------------------------

    def register_key(self, email: str, public_key_hex: str) -> tuple[User, bool]:
        """Attach a key to a user (creating the user); returns (user, whether anything changed)."""
        user = self.users.get(email)
        if user is None:
            user = User(email=email, user_hash=new_hash(), public_keys=[], created_at=now())
            self.users[email] = user
        if public_key_hex in user.public_keys:
            return user, False
        user.public_keys.append(public_key_hex)
        self._dirty = True
        return user, True

    def users_with_key(self, public_key_hex: str) -> list[User]:
        return [u for u in self.users.values() if public_key_hex in u.public_keys]

    def mint_token(self, email: str) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = email
        self._dirty = True
        return token

    # ---- API keys -------------------------------------------------------------------------

    def add_api_key(self, key: ApiKey) -> ApiKey:
        self.api_keys[key.key_hash] = key
        for digest in key.secret_digests:
            self._key_by_digest[digest] = key
        self._dirty = True
        return key

    def add_api_key_secret(self, key: ApiKey, digest: str, hint: str) -> None:
        key.secret_digests.append(digest)
        key.hint = hint
        self._key_by_digest[digest] = key
        self._dirty = True

    def api_key_by_digest(self, digest: str) -> ApiKey | None:
        return self._key_by_digest.get(digest)

    def api_keys_of(self, resource_hash: str) -> list[ApiKey]:
        """The keys of one resource, oldest first."""
        keys = [k for k in self.api_keys.values() if k.resource_hash == resource_hash]
        keys.sort(key=lambda k: (k.created_at, k.key_hash))
        return keys

    # ---- resources ------------------------------------------------------------------------

    def table(self, kind: ResourceKind) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            "project": self.projects,
            "dataset": self.datasets,
            "ontology": self.ontologies,
        }
        return tables[kind]

    def visible(self, kind: ResourceKind, resource_hash: str, email: str) -> Resource | None:
        """The resource if `email` owns it or is a member; otherwise None, exactly as if it did not exist.

        A project's collaborators may also read (not edit) its ontology, as on Encord: the SDK fetches the
        ontology of every project it opens.
        """
        record: Resource | None = self.table(kind).get(resource_hash)
        if record is None:
            return None
        if record.role_of(email) is not None:
            return record
        if kind == "ontology" and any(
            p.ontology_hash == resource_hash and p.role_of(email) is not None for p in self.projects.values()
        ):
            return record
        return None

    def visible_all(self, table: dict[str, R], email: str) -> Iterator[R]:
        return (r for r in table.values() if r.role_of(email) is not None)

    def add(self, record: R) -> R:
        kind = next(k for k, cls in _KINDS.items() if isinstance(record, cls))
        self.table(kind)[record.hash] = record  # type: ignore[arg-type]
        self._dirty = True
        return record

    def mark_dirty(self) -> None:
        self._dirty = True

    # ---- persistence ----------------------------------------------------------------------

    def flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self.path is not None:
            self._save(self.path)

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "users": [_to_json(u) for u in self.users.values()],
            "tokens": self.tokens,
            "projects": [_to_json(p) for p in self.projects.values()],
            "datasets": [_to_json(d) for d in self.datasets.values()],
            "ontologies": [_to_json(o) for o in self.ontologies.values()],
            "api_keys": [_to_json(k) for k in self.api_keys.values()],
        }

    def _save(self, path: Path) -> None:
        # Write-then-rename in the same directory: a crash leaves either the old or the new file, never half.
        data = json.dumps(self.snapshot(), indent=1).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _load(self, path: Path) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: unsupported sandbox state version {raw.get('version')!r}")
        for u in raw.get("users", []):
            user = _from_json(User, u)
            self.users[user.email] = user
        self.tokens = dict(raw.get("tokens", {}))
        for p in raw.get("projects", []):
            self.add(_from_json(Project, p))
        for d in raw.get("datasets", []):
            self.add(_from_json(Dataset, d))
        for o in raw.get("ontologies", []):
            self.add(_from_json(Ontology, o))
        for k in raw.get("api_keys", []):  # absent in state files written before API keys existed
            self.add_api_key(_from_json(ApiKey, k))
        self._dirty = False
