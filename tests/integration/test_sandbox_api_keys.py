"""Legacy resource API keys over real sockets: K-01..K-07, key authentication, §6.4 scopes, safe storage."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from encord_gateway.sandbox import routing
from encord_gateway.sandbox.domains.apikeys import SCOPES
from encord_gateway.upstream.signing import encode_body, v1_authorization, v2_signature_headers

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


class Encord:
    """Raw v1 calls: signed by a user, or made with a resource API key the way old SDKs sent them (§2.2)."""

    def __init__(self, session: aiohttp.ClientSession, origin: str) -> None:
        self.session = session
        self.origin = origin

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", **headers}
        async with self.session.post(self.origin + path, data=body, headers=headers) as response:
            assert response.status == 200
            answer: dict[str, Any] = await response.json(content_type=None)
            return answer

    @staticmethod
    def _body(query_type: str, query_method: str, uid: Any, payload: Any) -> bytes:
        return encode_body(
            {"query_type": query_type, "query_method": query_method, "values": {"uid": uid, "payload": payload}}
        )

    async def signed(
        self,
        user: SandboxUser,
        query_type: str,
        query_method: str,
        *,
        uid: Any = None,
        payload: Any = None,
        resource_type: str = "",
        resource_id: str = "",
    ) -> dict[str, Any]:
        body = self._body(query_type, query_method, uid, payload)
        headers = {
            "ResourceType": resource_type,
            "ResourceID": resource_id,
            "Authorization": v1_authorization(user.signer, body),
        }
        return await self._post("/public" if resource_type else "/public/user", body, headers)

    async def with_key(
        self,
        api_key: str,
        resource_id: str,
        query_type: str,
        query_method: str,
        *,
        uid: Any = None,
        payload: Any = None,
        resource_type: str | None = None,
        path: str = "/public",
    ) -> dict[str, Any]:
        headers = {"ResourceID": resource_id, "Authorization": api_key}
        if resource_type is not None:
            headers["ResourceType"] = resource_type
        return await self._post(path, self._body(query_type, query_method, uid, payload), headers)


@pytest.fixture
async def encord(sandbox: Sandbox) -> AsyncIterator[Encord]:
    async with aiohttp.ClientSession() as session:
        yield Encord(session, sandbox.url)


def ok(answer: dict[str, Any]) -> Any:
    assert answer["status"] == 200, answer
    return answer["response"]


def code(answer: dict[str, Any]) -> str:
    assert answer["status"] != 200, answer
    assert isinstance(answer["response"], list) and len(answer["response"]) == 1, answer
    found: str = answer["response"][0]
    return found


async def new_project(encord: Encord, user: SandboxUser) -> str:
    payload = {"title": "keyed project", "description": "", "dataset_hashes": [], "workflow_type": "manual"}
    project_hash: str = ok(await encord.signed(user, "project", "POST", payload=payload))
    return project_hash


async def new_dataset(encord: Encord, user: SandboxUser) -> str:
    created = ok(await encord.signed(user, "dataset", "POST", payload={"title": "keyed dataset", "type": 0}))
    dataset_hash: str = created["dataset_hash"]
    return dataset_hash


async def project_key(encord: Encord, user: SandboxUser, project_hash: str, scopes: Any, title: str = "k") -> str:
    key: str = ok(
        await encord.signed(user, "projectapikey", "POST", uid=project_hash, payload={"title": title, "scopes": scopes})
    )
    return key


async def dataset_key(encord: Encord, user: SandboxUser, dataset_hash: str, scopes: Any) -> dict[str, Any]:
    payload = {"dataset_hash": dataset_hash, "title": "dk", "scopes": scopes}
    created: dict[str, Any] = ok(await encord.signed(user, "datasetapikey", "POST", payload=payload))
    return created


# ---- K-01..K-06: managing keys ----------------------------------------------------------------


async def test_project_keys_are_listed_with_the_keys_themselves(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, ["label.read"], title="reader")
    assert isinstance(key, str) and len(key) >= 40

    # K-02 answers [{api_key, title, scopes}]: Encord hands out the keys again (§5.12).
    listed = ok(await encord.signed(user, "projectapikey", "GET", uid=project_hash))
    assert listed == [{"api_key": key, "title": "reader", "scopes": ["label.read"]}]


async def test_dataset_key_creation_answers_the_k04_object(user: SandboxUser, encord: Encord) -> None:
    dataset_hash = await new_dataset(encord, user)
    created = await dataset_key(encord, user, dataset_hash, ["dataset.read", "dataset.read"])
    assert set(created) == {"resource_hash", "api_key", "title", "key_hash", "scopes"}
    assert created["resource_hash"] == dataset_hash
    assert created["scopes"] == ["dataset.read"]  # duplicates collapse

    listed = ok(await encord.signed(user, "datasetapikey", "GET", payload={"dataset_hash": dataset_hash}))
    assert listed == [created]  # K-05 lists the K-04 objects, keys included


async def test_seed_style_scopes_as_a_json_string_are_accepted(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, '["label.read", "label.write"]')
    listed = ok(await encord.signed(user, "projectapikey", "GET", uid=project_hash))
    assert listed[0]["scopes"] == ["label.read", "label.write"]
    assert ok(await encord.with_key(key, project_hash, "labelrowmetadata", "GET")) == []


async def test_master_key_carries_every_scope_and_stays_one_key(user: SandboxUser, encord: Encord) -> None:
    dataset_hash = await new_dataset(encord, user)
    first = ok(await encord.signed(user, "datasetapikey", "PUT", payload={"dataset_hash": dataset_hash}))
    second = ok(await encord.signed(user, "datasetapikey", "PUT", payload={"dataset_hash": dataset_hash}))
    assert first["scopes"] == list(SCOPES["dataset"])
    assert first["key_hash"] == second["key_hash"]
    listed = ok(await encord.signed(user, "datasetapikey", "GET", payload={"dataset_hash": dataset_hash}))
    assert len(listed) == 1
    # Get-or-create hands back the same key every time, and it works.
    assert first["api_key"] == second["api_key"] == listed[0]["api_key"]
    assert ok(await encord.with_key(first["api_key"], dataset_hash, "datarows", "GET")) == []


async def test_project_master_key_is_a_usable_string(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = ok(await encord.signed(user, "projectapikey", "PUT", uid=project_hash, payload={}))
    assert isinstance(key, str)
    for query_type in ("labelrowmetadata", "labellog"):
        assert ok(await encord.with_key(key, project_hash, query_type, "GET")) == []
    listed = ok(await encord.signed(user, "projectapikey", "GET", uid=project_hash))
    assert listed[0]["scopes"] == list(SCOPES["project"])


async def test_only_the_resource_admin_may_manage_its_keys(
    user: SandboxUser, make_user: Callable[[], SandboxUser], encord: Encord
) -> None:
    project_hash = await new_project(encord, user)
    member, stranger = make_user(), make_user()
    members = {"user_emails": [member.email], "user_role": 1}
    ok(
        await encord.signed(
            user, "projectusers", "POST", payload=members, resource_type="project", resource_id=project_hash
        )
    )
    for method, payload in (("POST", {"title": "t", "scopes": []}), ("GET", None), ("PUT", {})):
        as_member = await encord.signed(member, "projectapikey", method, uid=project_hash, payload=payload)
        assert code(as_member) == "AUTHORISATION_ERROR"
        as_stranger = await encord.signed(stranger, "projectapikey", method, uid=project_hash, payload=payload)
        assert code(as_stranger) == "RESOURCE_NOT_FOUND_ERROR"  # no existence leak


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        ("project", ["dataset.read"]),
        ("project", ["label.readwrite"]),
        ("project", "label.read"),
        ("project", [1]),
        ("dataset", ["label.read"]),
        ("dataset", {"dataset.read": True}),
    ],
)
async def test_invalid_scopes_are_invalid_arguments(user: SandboxUser, encord: Encord, kind: str, scopes: Any) -> None:
    if kind == "project":
        resource_hash = await new_project(encord, user)
        payload: dict[str, Any] = {"title": "t", "scopes": scopes}
        answer = await encord.signed(user, "projectapikey", "POST", uid=resource_hash, payload=payload)
    else:
        resource_hash = await new_dataset(encord, user)
        payload = {"dataset_hash": resource_hash, "title": "t", "scopes": scopes}
        answer = await encord.signed(user, "datasetapikey", "POST", payload=payload)
    assert code(answer) == "INVALID_ARGUMENTS_ERROR"


# ---- using a key ------------------------------------------------------------------------------

# (key kind, key scopes, query_type, query_method, uid, outcome): "ok" or the v1 error code.
SCOPE_CASES = [
    ("project", [], "project", "GET", None, "ok"),
    ("project", [], "apikeymeta", "GET", None, "ok"),
    ("project", [], "labelrowmetadata", "GET", None, "OPERATION_NOT_ALLOWED"),
    ("project", ["label.read"], "labelrowmetadata", "GET", None, "ok"),
    ("project", ["label.read"], "labelrow", "GET", "no-such-label", "RESOURCE_NOT_FOUND_ERROR"),
    ("project", ["label.read"], "labelrow", "POST", "no-such-label", "OPERATION_NOT_ALLOWED"),
    ("project", ["label.write"], "labelrow", "POST", "no-such-label", "RESOURCE_NOT_FOUND_ERROR"),
    ("project", ["label.read"], "labelrow", "PUT", "no-such-data", "OPERATION_NOT_ALLOWED"),
    ("project", ["label.read"], "labellog", "GET", None, "OPERATION_NOT_ALLOWED"),
    ("project", ["label_logs.read"], "labellog", "GET", None, "ok"),
    ("project", ["label.write"], "labelingalgorithm", "POST", None, "OPERATION_NOT_ALLOWED"),
    ("project", list(SCOPES["project"]), "projectusers", "POST", None, "OPERATION_NOT_ALLOWED"),
    ("project", list(SCOPES["project"]), "dataset", "GET", None, "METHOD_NOT_ALLOWED_ERROR"),
    ("dataset", [], "apikeymeta", "GET", None, "ok"),
    ("dataset", [], "dataset", "GET", None, "OPERATION_NOT_ALLOWED"),
    ("dataset", ["dataset.read"], "dataset", "GET", None, "ok"),
    ("dataset", ["dataset.read"], "datarows", "GET", None, "ok"),
    ("dataset", ["dataset.read"], "video", "DELETE", ["some-data-hash"], "OPERATION_NOT_ALLOWED"),
    ("dataset", ["dataset.write"], "video", "DELETE", ["some-data-hash"], "ok"),
    ("dataset", ["dataset.read"], "datasetlinkitems", "POST", ["item"], "OPERATION_NOT_ALLOWED"),
    ("dataset", ["dataset.write"], "datasetlinkitems", "POST", ["item"], "INVALID_ARGUMENTS_ERROR"),
    ("dataset", list(SCOPES["dataset"]), "datasetusers", "POST", None, "OPERATION_NOT_ALLOWED"),
]


async def _key_for(encord: Encord, user: SandboxUser, kind: str, scopes: list[str]) -> tuple[str, str]:
    if kind == "project":
        project_hash = await new_project(encord, user)
        return await project_key(encord, user, project_hash, scopes), project_hash
    dataset_hash = await new_dataset(encord, user)
    return (await dataset_key(encord, user, dataset_hash, scopes))["api_key"], dataset_hash


@pytest.mark.parametrize(("kind", "scopes", "query_type", "query_method", "uid", "outcome"), SCOPE_CASES)
async def test_a_key_may_make_exactly_the_calls_its_scopes_allow(
    user: SandboxUser,
    encord: Encord,
    kind: str,
    scopes: list[str],
    query_type: str,
    query_method: str,
    uid: Any,
    outcome: str,
) -> None:
    key, resource_hash = await _key_for(encord, user, kind, scopes)
    answer = await encord.with_key(key, resource_hash, query_type, query_method, uid=uid)
    if outcome == "ok":
        assert answer["status"] == 200 and answer["response"] is not None, answer
    else:
        assert code(answer) == outcome


async def test_apikeymeta_names_the_key_and_its_resource_kind(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, [], title="bootstrap")
    assert ok(await encord.with_key(key, project_hash, "apikeymeta", "GET")) == {
        "title": "bootstrap",
        "resource_type": "project",
    }
    signed = await encord.signed(user, "apikeymeta", "GET", resource_type="project", resource_id=project_hash)
    assert code(signed) == "METHOD_NOT_ALLOWED_ERROR"


async def test_a_key_acts_on_its_own_resource_with_or_without_resource_type(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, [])
    for resource_type in (None, "", "project"):
        got = ok(await encord.with_key(key, project_hash, "project", "GET", resource_type=resource_type))
        assert got["project_hash"] == project_hash


async def test_a_key_for_one_resource_cannot_reach_another(user: SandboxUser, encord: Encord) -> None:
    project_a, project_b = await new_project(encord, user), await new_project(encord, user)
    dataset = await new_dataset(encord, user)
    key = await project_key(encord, user, project_a, list(SCOPES["project"]))
    for resource_id in (project_b, dataset, ""):
        assert code(await encord.with_key(key, resource_id, "project", "GET")) == "AUTHENTICATION_ERROR"
    wrong_type = await encord.with_key(key, project_a, "project", "GET", resource_type="dataset")
    assert code(wrong_type) == "AUTHENTICATION_ERROR"


async def test_an_unknown_key_is_an_authentication_error(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, [])
    for guess in ("not-a-key", key[:-1], key + "x"):
        assert code(await encord.with_key(guess, project_hash, "project", "GET")) == "AUTHENTICATION_ERROR"


async def test_a_key_cannot_make_user_level_calls(user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, list(SCOPES["project"]))
    answer = await encord.with_key(key, project_hash, "projectwithuserrole", "GET", payload={}, path="/public/user")
    assert code(answer) == "AUTHENTICATION_ERROR"


async def test_v2_refuses_api_keys(sandbox: Sandbox, user: SandboxUser, encord: Encord) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, list(SCOPES["project"]))
    url = f"{sandbox.url}/v2/public/projects/{project_hash}"
    async with encord.session.get(url, headers={"Authorization": key, "ResourceID": project_hash}) as response:
        assert response.status == 401
    # Even alongside a valid signature: signed v2 requests carry no Authorization header (§3.4).
    signed = v2_signature_headers(user.signer, "GET", f"/v2/public/projects/{project_hash}", b"", int(time.time()))
    async with encord.session.get(url, headers={**signed, "Authorization": key}) as response:
        assert response.status == 401
    async with encord.session.get(url, headers=signed) as response:
        assert response.status == 200


def test_no_admin_call_is_open_to_api_keys() -> None:
    # A key carries scopes, not a member's role: every call that needs an admin must need a user credential.
    assert [k for k, op in routing.V1.items() if op.admin and op.key.allowed] == []
    assert [k for k, op in routing.V1.items() if k[0] == "user" and op.key.allowed] == []


# ---- what the sandbox keeps -------------------------------------------------------------------


async def test_request_log_names_the_auth_kind_and_never_the_key(
    sandbox: Sandbox, user: SandboxUser, encord: Encord
) -> None:
    project_hash = await new_project(encord, user)
    key = await project_key(encord, user, project_hash, ["label.read"])
    listed = ok(await encord.signed(user, "projectapikey", "GET", uid=project_hash))
    assert len(listed) == 1
    sandbox.clear_requests_log()
    await encord.with_key(key, project_hash, "project", "GET")
    await encord.with_key(key, project_hash, "labellog", "GET")
    await encord.with_key(key + "x", project_hash, "project", "GET")
    await encord.signed(user, "project", "GET", resource_type="project", resource_id=project_hash)
    entries = sandbox.requests_log()
    summary = [(e["query_type"], e["auth"], e["user"], e["outcome"]) for e in entries]
    assert summary == [
        ("project", "api_key", user.email, "ok"),
        ("labellog", "api_key", user.email, "OPERATION_NOT_ALLOWED"),
        ("project", None, None, "AUTHENTICATION_ERROR"),
        ("project", "ssh", user.email, "ok"),
    ]
    assert entries[0]["key_hash"] is not None and entries[0]["key_hash"] == entries[1]["key_hash"]
    assert entries[3]["key_hash"] is None
    text = json.dumps(entries)
    assert key not in text and key[:20] not in text
    assert hashlib.sha256(key.encode()).hexdigest() not in text


def stored_bytes(state: Path) -> bytes:
    """Everything the sandbox wrote for its state: the database and the files SQLite keeps beside it (-wal)."""
    return b"".join(p.read_bytes() for p in sorted(state.parent.glob(state.name + "*")))


async def test_keys_survive_a_restart_and_authenticate_by_their_digest(
    tmp_path: Path, sandbox_factory: Callable[[Path | None], Sandbox]
) -> None:
    state = tmp_path / "sandbox.db"
    first = sandbox_factory(state)
    user = first.new_user()
    async with aiohttp.ClientSession() as session:
        encord = Encord(session, first.url)
        dataset_hash = await new_dataset(encord, user)
        key = (await dataset_key(encord, user, dataset_hash, ["dataset.read"]))["api_key"]
        first.stop()
        # Encord keeps keys (its listings show them again); the index a caller is found by holds digests.
        assert hashlib.sha256(key.encode()).hexdigest().encode() in stored_bytes(state)

        second = sandbox_factory(state)
        encord = Encord(session, second.url)
        got = ok(await encord.with_key(key, dataset_hash, "dataset", "GET"))
        assert got["dataset_hash"] == dataset_hash
