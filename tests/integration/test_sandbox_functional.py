"""The sandbox over real sockets: signatures, user isolation, paging, persistence, the request log."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord_gateway.upstream.signing import encode_body, v1_authorization, v2_signature_headers
from yarl import URL

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

_NO_BODY = object()


class Wire:
    """Builds, signs and sends raw v1/v2 requests, with hooks to tamper with any part after signing."""

    def __init__(self, session: aiohttp.ClientSession, origin: str) -> None:
        self.session = session
        self.origin = origin

    async def v1(
        self,
        user: SandboxUser | None,
        query_type: str,
        query_method: str,
        *,
        uid: Any = None,
        payload: Any = None,
        resource_type: str = "",
        resource_id: str = "",
        authorization: str | None = None,
        raw_body: bytes | None = None,
    ) -> tuple[int, Any]:
        envelope = {
            "query_type": query_type,
            "query_method": query_method,
            "values": {"uid": uid, "payload": payload},
        }
        body = raw_body if raw_body is not None else encode_body(envelope)
        if authorization is None:
            assert user is not None
            authorization = v1_authorization(user.signer, body)
        headers = {
            "Content-Type": "application/json",
            "ResourceType": resource_type,
            "ResourceID": resource_id,
            "Authorization": authorization,
        }
        path = "/public" if resource_type else "/public/user"
        async with self.session.post(self.origin + path, data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def v2(
        self,
        user: SandboxUser | None,
        method: str,
        path: str,
        *,
        query: str = "",
        body: Any = _NO_BODY,
        raw_body: bytes | None = None,
        signed_target: str | None = None,
        signed_body: bytes | None = None,
        created: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        target = "/v2/public/" + path + (f"?{query}" if query else "")
        data = raw_body if raw_body is not None else (b"" if body is _NO_BODY else encode_body(body))
        sent: dict[str, str] = {}
        if data:
            sent["Content-Type"] = "application/json"
        if user is not None:
            sent |= v2_signature_headers(
                user.signer,
                method,
                signed_target if signed_target is not None else target,
                signed_body if signed_body is not None else data,
                created if created is not None else int(time.time()),
            )
        sent |= headers or {}
        # encoded=True: send the target byte for byte as signed (no re-quoting of `+` or `%`).
        url = URL(self.origin + target, encoded=True)
        async with self.session.request(method, url, data=data, headers=sent) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw else None


@pytest.fixture
async def wire(sandbox: Sandbox) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession() as session:
        yield Wire(session, sandbox.url)


async def create_project(wire: Wire, user: SandboxUser, title: str = "P", **fields: Any) -> str:
    payload = {"title": title, "description": "", "dataset_hashes": [], "workflow_type": "manual", **fields}
    status, answer = await wire.v1(user, "project", "POST", payload=payload)
    assert status == 200 and answer["status"] == 200, answer
    project_hash: str = answer["response"]
    return project_hash


def error_code(answer: dict[str, Any]) -> str:
    assert answer["status"] != 200, answer
    code: str = answer["response"][0]
    return code


# ---- v1 authentication -------------------------------------------------------------------------


async def test_v1_key_nobody_registered_is_ssh_key_not_found(user: SandboxUser, wire: Wire) -> None:
    unregistered = user._replace(private_key=Ed25519PrivateKey.generate())
    status, answer = await wire.v1(unregistered, "projectwithuserrole", "GET", payload={"filter": {}})
    assert status == 200
    assert answer["response"] == ["SSH_KEY_NOT_FOUND_ERROR"]
    assert answer["status"] != 200 and isinstance(answer["payload"], str)


async def test_v1_flipped_signature_is_authentication_error(user: SandboxUser, wire: Wire) -> None:
    body = encode_body({"query_type": "projectwithuserrole", "query_method": "GET", "values": {"uid": None}})
    public_hex, signature_hex = v1_authorization(user.signer, body).split(":")
    flipped = f"{int(signature_hex[0], 16) ^ 1:x}" + signature_hex[1:]
    _, answer = await wire.v1(None, "", "", raw_body=body, authorization=f"{public_hex}:{flipped}")
    assert error_code(answer) == "AUTHENTICATION_ERROR"


async def test_v1_signature_covers_the_exact_body_bytes(user: SandboxUser, wire: Wire) -> None:
    signed = encode_body({"query_type": "projectwithuserrole", "query_method": "GET", "values": {"uid": None}})
    # Same JSON value, different bytes: a verifier that re-serialised would wrongly accept this.
    sent = signed.replace(b", ", b",")
    _, answer = await wire.v1(None, "", "", raw_body=sent, authorization=v1_authorization(user.signer, signed))
    assert error_code(answer) == "AUTHENTICATION_ERROR"


@pytest.mark.parametrize("authorization", ["", "nonsense", "abc:def", "Bearer not-a-token"])
async def test_v1_missing_or_garbled_authorization_is_authentication_error(wire: Wire, authorization: str) -> None:
    _, answer = await wire.v1(None, "projectwithuserrole", "GET", authorization=authorization)
    assert error_code(answer) == "AUTHENTICATION_ERROR"


async def test_v1_key_registered_to_two_users_is_duplicate_ssh_key(sandbox: Sandbox, wire: Wire) -> None:
    first = sandbox.new_user()
    status, _ = sandbox.control(
        "POST", "/sandbox/v1/users", {"email": "twin@sandbox.test", "public_key": first.public_key_hex}
    )
    assert status == 201
    _, answer = await wire.v1(first, "projectwithuserrole", "GET", payload={"filter": {}})
    assert error_code(answer) == "DUPLICATE_SSH_KEY_ERROR"


# ---- v2 authentication -------------------------------------------------------------------------


async def test_v2_signed_request_is_accepted_with_the_target_as_sent(user: SandboxUser, wire: Wire) -> None:
    await create_project(wire, user, "a b&c")
    # `+` for the space and `%26` for `&`, exactly as the SDK encodes it (§3.2); verified verbatim.
    status, page = await wire.v2(user, "GET", "projects", query="titleEq=a+b%26c&includeOrgAccess=False")
    assert status == 200
    assert [p["title"] for p in page["results"]] == ["a b&c"]


async def test_v2_bad_signature_is_401(user: SandboxUser, make_user: Callable[[], SandboxUser], wire: Wire) -> None:
    other = make_user()
    signed_by_other = v2_signature_headers(other.signer, "GET", "/v2/public/projects", b"", int(time.time()))
    signature_input = signed_by_other["Signature-Input"].replace(other.public_key_hex, user.public_key_hex)
    status, answer = await wire.v2(
        user,
        "GET",
        "projects",
        headers={"Signature": signed_by_other["Signature"], "Signature-Input": signature_input},
    )
    assert status == 401 and answer["message"]


async def test_v2_tampered_query_is_401(user: SandboxUser, wire: Wire) -> None:
    status, answer = await wire.v2(
        user, "GET", "projects", query="titleEq=mine", signed_target="/v2/public/projects?titleEq=theirs"
    )
    assert status == 401 and "signature" in answer["message"].lower()


async def test_v2_tampered_body_is_401(user: SandboxUser, wire: Wire) -> None:
    signed = encode_body({"title": "good", "description": "", "editor": {"objects": [], "classifications": []}})
    tampered = signed.replace(b"good", b"evil")
    status, answer = await wire.v2(user, "POST", "ontologies", raw_body=tampered, signed_body=signed)
    assert status == 401 and "Content-Digest" in answer["message"]
    # A tamperer who also fixes the digest still fails the signature.
    digest_fixed = v2_signature_headers(user.signer, "POST", "/v2/public/ontologies", tampered, int(time.time()))
    status, _ = await wire.v2(
        user,
        "POST",
        "ontologies",
        raw_body=tampered,
        signed_body=signed,
        headers={"Content-Digest": digest_fixed["Content-Digest"]},
    )
    assert status == 401


async def test_v2_signature_older_than_the_skew_window_is_401(user: SandboxUser, wire: Wire) -> None:
    status, _ = await wire.v2(user, "GET", "projects", created=int(time.time()) - 7 * 3600)
    assert status == 401
    status, _ = await wire.v2(user, "GET", "projects", created=int(time.time()) - 10 * 60)  # a reused, stale one
    assert status == 401
    status, _ = await wire.v2(user, "GET", "projects", created=int(time.time()) - 60)  # a few minutes' skew
    assert status == 200


async def test_v2_without_credentials_is_401(wire: Wire) -> None:
    status, answer = await wire.v2(None, "GET", "projects")
    assert status == 401 and answer["message"]


async def test_bearer_token_minted_over_v2_works_for_both_apis(user: SandboxUser, wire: Wire) -> None:
    project_hash = await create_project(wire, user, "bearer")
    status, minted = await wire.v2(user, "GET", "user/bearer-token")
    assert status == 200
    bearer = {"Authorization": f"Bearer {minted['token']}"}
    status, dto = await wire.v2(None, "GET", f"projects/{project_hash}", headers=bearer)
    assert status == 200 and dto["title"] == "bearer"
    _, answer = await wire.v1(
        None,
        "project",
        "GET",
        resource_type="project",
        resource_id=project_hash,
        authorization=bearer["Authorization"],
    )
    assert answer["response"]["title"] == "bearer"


# ---- isolation between users -------------------------------------------------------------------


async def test_another_users_project_is_not_found_in_both_apis(
    user: SandboxUser, make_user: Callable[[], SandboxUser], wire: Wire
) -> None:
    project_hash = await create_project(wire, user, "private")
    intruder = make_user()
    _, answer = await wire.v1(
        intruder,
        "project",
        "GET",
        payload={"include_labels_metadata": True},
        resource_type="project",
        resource_id=project_hash,
    )
    assert error_code(answer) == "RESOURCE_NOT_FOUND_ERROR"
    status, _ = await wire.v2(intruder, "GET", f"projects/{project_hash}")
    assert status == 404
    status, page = await wire.v2(intruder, "GET", "projects")
    assert status == 200 and page["results"] == []


async def test_project_cannot_attach_someone_elses_dataset(
    user: SandboxUser, make_user: Callable[[], SandboxUser], wire: Wire
) -> None:
    status, created = await wire.v2(user, "POST", "datasets", body={"title": "D", "createBackingFolder": False})
    assert status == 200 and created["backingFolderUuid"] is None
    intruder = make_user()
    payload = {
        "title": "steal",
        "description": "",
        "dataset_hashes": [created["datasetUuid"]],
        "workflow_type": "manual",
    }
    _, answer = await wire.v1(intruder, "project", "POST", payload=payload)
    assert error_code(answer) == "RESOURCE_NOT_FOUND_ERROR"
    status, page = await wire.v2(intruder, "GET", "projects")
    assert page["results"] == [], "a refused create must not leave a project behind"


async def test_added_project_member_sees_the_project(
    user: SandboxUser, make_user: Callable[[], SandboxUser], wire: Wire
) -> None:
    project_hash = await create_project(wire, user, "shared")
    member = make_user()
    _, answer = await wire.v1(
        user,
        "projectusers",
        "POST",
        uid=project_hash,
        payload={"user_emails": [member.email], "user_role": 1},
        resource_type="project",
        resource_id=project_hash,
    )
    assert answer["response"] == [{"user_email": member.email, "user_role": 1, "project_hash": project_hash}]
    status, dto = await wire.v2(member, "GET", f"projects/{project_hash}")
    assert status == 200 and dto["userRole"] == 1
    # The member reads the project's ontology (the SDK does on every get_project) but may not edit it.
    status, ontology = await wire.v2(member, "GET", f"ontologies/{dto['ontologyHash']}")
    assert status == 200 and ontology["userRole"] is None
    edit = {"title": "hijacked", "description": "", "editor": ontology["editor"]}
    status, _ = await wire.v2(member, "PUT", f"ontologies/{dto['ontologyHash']}", body=edit)
    assert status == 403


# ---- paging and filters ------------------------------------------------------------------------


async def test_project_paging_returns_every_project_exactly_once(user: SandboxUser, wire: Wire) -> None:
    created = {await create_project(wire, user, f"paged-{i}") for i in range(8)}
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = "includeOrgAccess=False&pageSize=3" + (f"&pageToken={token}" if token else "")
        status, page = await wire.v2(user, "GET", "projects", query=query)
        assert status == 200
        seen += [p["projectHash"] for p in page["results"]]
        pages += 1
        if pages == 1:  # a project created mid-iteration must not shift or duplicate the rest
            created.add(await create_project(wire, user, "late"))
        token = page["nextPageToken"]
        if token is None:
            break
    assert sorted(seen) == sorted(created)
    assert pages == 3


async def test_project_page_has_every_required_projectdto_key(user: SandboxUser, wire: Wire) -> None:
    await create_project(wire, user, "dto")
    _, page = await wire.v2(user, "GET", "projects")
    required = {
        "projectHash",
        "projectType",
        "status",
        "title",
        "description",
        "createdAt",
        "creatorEmail",
        "lastEditedAt",
        "ontologyHash",
        "editorOntology",
    }
    assert required <= page["results"][0].keys()
    assert page["results"][0]["creatorEmail"] == user.email


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("alpha%", {"alpha-1", "alpha-22"}),
        ("alpha-_", {"alpha-1"}),
        ("%pha-2%", {"alpha-22"}),
        ("ALPHA%", set()),
    ],
)
async def test_title_like_has_sql_like_semantics(
    user: SandboxUser, wire: Wire, pattern: str, expected: set[str]
) -> None:
    for title in ("alpha-1", "alpha-22", "beta"):
        await create_project(wire, user, title)
    query = "titleLike=" + pattern.replace("%", "%25")
    _, page = await wire.v2(user, "GET", "projects", query=query)
    assert {p["title"] for p in page["results"]} == expected


@pytest.mark.parametrize("suffix", ["Z", "%2B00%3A00", ""])
async def test_created_filters_accept_z_offset_and_naive_times(user: SandboxUser, wire: Wire, suffix: str) -> None:
    await create_project(wire, user, "dated")
    _, page = await wire.v2(user, "GET", "projects", query=f"createdAfter=2000-01-01T00%3A00%3A00{suffix}")
    assert [p["title"] for p in page["results"]] == ["dated"]
    _, page = await wire.v2(user, "GET", "projects", query=f"createdBefore=2000-01-01T00%3A00%3A00{suffix}")
    assert page["results"] == []


async def test_dataset_listing_filters_by_description(user: SandboxUser, wire: Wire) -> None:
    for title, description in (("d1", "cats"), ("d2", "dogs")):
        await wire.v2(user, "POST", "datasets", body={"title": title, "description": description})
    status, listed = await wire.v2(user, "GET", "datasets/list", query="descriptionLike=c%25&includeOrgAccess=False")
    assert status == 200
    assert [(d["title"], d["userRole"], d["storageLocation"]) for d in listed["result"]] == [("d1", "admin", 0)]


# ---- persistence -------------------------------------------------------------------------------


def stored_bytes(state: Path) -> bytes:
    """Everything the sandbox wrote for its state: the database and the files SQLite keeps beside it (-wal)."""
    return b"".join(p.read_bytes() for p in sorted(state.parent.glob(state.name + "*")))


async def test_state_file_survives_a_restart(tmp_path: Path, sandbox_factory: Callable[[Path | None], Sandbox]) -> None:
    state = tmp_path / "sandbox.db"
    first = sandbox_factory(state)
    alice = first.new_user()
    async with aiohttp.ClientSession() as session:
        wire = Wire(session, first.url)
        project_hash = await create_project(wire, alice, "durable")
        _, minted = await wire.v2(alice, "GET", "user/bearer-token")
    first.stop()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    second = sandbox_factory(state)
    async with aiohttp.ClientSession() as session:
        wire = Wire(session, second.url)
        # Alice's key, her project (with the ontology made for it) and her bearer token all came back.
        status, dto = await wire.v2(alice, "GET", f"projects/{project_hash}")
        assert status == 200 and dto["title"] == "durable"
        status, ontology = await wire.v2(alice, "GET", f"ontologies/{dto['ontologyHash']}")
        assert status == 200 and ontology["userRole"] == 0
        bearer = {"Authorization": f"Bearer {minted['token']}"}
        status, page = await wire.v2(None, "GET", "projects", headers=bearer)
        assert status == 200 and [p["projectHash"] for p in page["results"]] == [project_hash]
    assert minted["token"].encode() not in stored_bytes(state)  # kept as a digest, like API keys


async def test_a_refused_request_leaves_nothing_half_written(
    user: SandboxUser, make_user: Callable[[], SandboxUser], wire: Wire
) -> None:
    # U-01 makes the project's own ontology before it finds the dataset is someone else's; the request's
    # transaction must take that ontology back with the refusal.
    status, created = await wire.v2(user, "POST", "datasets", body={"title": "not yours"})
    assert status == 200
    intruder = make_user()
    payload = {
        "title": "half",
        "description": "",
        "dataset_hashes": [created["datasetUuid"]],
        "workflow_type": "manual",
    }
    _, answer = await wire.v1(intruder, "project", "POST", payload=payload)
    assert error_code(answer) == "RESOURCE_NOT_FOUND_ERROR"
    for path in ("projects", "ontologies"):
        status, page = await wire.v2(intruder, "GET", path)
        assert status == 200 and page["results"] == [], path
    _, listed = await wire.v1(intruder, "ontologywithuserrole", "GET", payload={"filter": {}})
    assert listed["response"] == []


# ---- request log -------------------------------------------------------------------------------


async def test_request_log_records_each_call_without_secrets(sandbox: Sandbox, user: SandboxUser, wire: Wire) -> None:
    sandbox.clear_requests_log()
    project_hash = await create_project(wire, user, "logged")
    await wire.v2(user, "GET", f"projects/{project_hash}")
    await wire.v1(None, "project", "GET", authorization="garbage", resource_type="project", resource_id=project_hash)
    entries = sandbox.requests_log()
    assert entries == [
        {
            "api": "v1",
            "method": "POST",
            "path": "/public/user",
            "query_type": "project",
            "query_method": "POST",
            "resource_id": None,
            "resource_type": None,
            "user": user.email,
            "status": 200,
            "outcome": "ok",
            "auth": "ssh",
            "key_hash": None,
            "fault": None,
        },
        {
            "api": "v2",
            "method": "GET",
            "path": f"/v2/public/projects/{project_hash}",
            "query_type": None,
            "query_method": None,
            "resource_id": project_hash,
            "resource_type": "project",
            "user": user.email,
            "status": 200,
            "outcome": "ok",
            "auth": "ssh",
            "key_hash": None,
            "fault": None,
        },
        {
            "api": "v1",
            "method": "POST",
            "path": "/public",
            "query_type": "project",
            "query_method": "GET",
            "resource_id": project_hash,
            "resource_type": "project",
            "user": None,
            "status": 200,
            "outcome": "AUTHENTICATION_ERROR",
            "auth": None,
            "key_hash": None,
            "fault": None,
        },
    ]
    assert user.public_key_hex not in json.dumps(entries)
    sandbox.clear_requests_log()
    assert sandbox.requests_log() == []


async def test_request_log_tells_a_missing_route_from_a_missing_resource(
    sandbox: Sandbox, user: SandboxUser, wire: Wire
) -> None:
    sandbox.clear_requests_log()
    no_route = await wire.v2(user, "GET", "no/such/endpoint")
    no_project = await wire.v2(user, "GET", "projects/00000000-0000-0000-0000-000000000000")
    # Encord answers both the same way on the wire ...
    assert [status for status, _ in (no_route, no_project)] == [404, 404]
    assert all(isinstance(answer["message"], str) for _, answer in (no_route, no_project))
    # ... but only the second reached a handler.
    assert [(e["path"], e["outcome"]) for e in sandbox.requests_log()] == [
        ("/v2/public/no/such/endpoint", "NO_ROUTE"),
        ("/v2/public/projects/00000000-0000-0000-0000-000000000000", "RESOURCE_NOT_FOUND_ERROR"),
    ]


# ---- bad input ---------------------------------------------------------------------------------


async def test_v1_empty_title_is_invalid_arguments(user: SandboxUser, wire: Wire) -> None:
    _, answer = await wire.v1(user, "project", "POST", payload={"title": "  ", "dataset_hashes": []})
    assert error_code(answer) == "INVALID_ARGUMENTS_ERROR"
    assert "title" in answer["payload"]


async def test_v1_unknown_query_type_or_method_is_method_not_allowed(user: SandboxUser, wire: Wire) -> None:
    for query_type, method in (("nosuchthing", "GET"), ("projectwithuserrole", "DELETE")):
        _, answer = await wire.v1(user, query_type, method)
        assert error_code(answer) == "METHOD_NOT_ALLOWED_ERROR"


async def test_v1_malformed_json_is_http_400_with_an_envelope(user: SandboxUser, wire: Wire) -> None:
    body = b'{"query_type": "project",'
    status, answer = await wire.v1(None, "", "", raw_body=body, authorization=v1_authorization(user.signer, body))
    assert status == 400
    assert answer["response"] == ["INVALID_ARGUMENTS_ERROR"]


async def test_v1_wrongly_typed_payload_members_are_invalid_arguments(user: SandboxUser, wire: Wire) -> None:
    for payload in ({"title": 5}, {"title": "t", "dataset_hashes": "not-a-list"}, ["a", "list"]):
        _, answer = await wire.v1(user, "project", "POST", payload=payload)
        assert error_code(answer) == "INVALID_ARGUMENTS_ERROR"


async def test_v1_dataset_create_refuses_an_unknown_storage_type(user: SandboxUser, wire: Wire) -> None:
    _, answer = await wire.v1(user, "dataset", "POST", payload={"title": "D", "type": 9})
    assert error_code(answer) == "INVALID_ARGUMENTS_ERROR"
    _, answer = await wire.v1(user, "dataset", "POST", payload={"title": "D", "type": 1, "description": "s3"})
    assert answer["response"]["type"] == 1 and answer["response"]["title"] == "D"


@pytest.mark.parametrize(
    ("method", "path", "query", "raw_body", "expected"),
    [
        ("POST", "ontologies", "", b"{not json", 400),
        ("POST", "ontologies", "", b'{"title": ""}', 400),
        ("POST", "ontologies", "", b'{"title": "t", "editor": {"objects": 1}}', 400),
        ("GET", "projects", "createdAfter=yesterday", b"", 400),
        ("GET", "projects", "pageToken=%21%21", b"", 400),
        ("GET", "projects", "pageSize=0", b"", 400),
        ("GET", "projects", "includeOrgAccess=maybe", b"", 400),
        ("GET", "no/such/endpoint", "", b"", 404),
        ("GET", "projects/00000000-0000-0000-0000-000000000000", "", b"", 404),
        ("DELETE", "projects", "", b"", 405),
    ],
)
async def test_v2_bad_input_gets_a_clear_4xx(
    user: SandboxUser, wire: Wire, method: str, path: str, query: str, raw_body: bytes, expected: int
) -> None:
    status, answer = await wire.v2(user, method, path, query=query, raw_body=raw_body)
    assert status == expected
    assert isinstance(answer["message"], str) and answer["message"]


# ---- control API -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@b.c", "public_key": "ssh-rsa AAAAB3NzaC1yc2E"},
        {"email": "a@b.c", "public_key": "abcd"},
        {"public_key": "00" * 32},
        {"email": "a@b.c"},
    ],
)
def test_control_api_refuses_bad_registrations(sandbox: Sandbox, body: dict[str, str]) -> None:
    status, answer = sandbox.control("POST", "/sandbox/v1/users", body)
    assert status == 400 and answer["message"]


def test_control_api_registration_is_idempotent(sandbox: Sandbox, user: SandboxUser) -> None:
    again = {"email": user.email, "public_key": user.public_key_hex}
    status, answer = sandbox.control("POST", "/sandbox/v1/users", again)
    assert status == 200
    assert answer["public_key_hex"] == user.public_key_hex and answer["fingerprint"].startswith("SHA256:")


# ---- legacy v1 calls ---------------------------------------------------------------------------


async def test_legacy_v1_ontology_calls_round_trip(user: SandboxUser, wire: Wire) -> None:
    editor = {"objects": [{"id": "1", "name": "Car", "shape": "bounding_box", "featureNodeHash": "fh_car0"}]}
    _, created = await wire.v1(
        user, "ontology", "POST", payload={"title": "Legacy", "description": "old", "editor": editor}
    )
    ontology = created["response"]
    assert ontology["title"] == "Legacy" and ontology["editor"]["classifications"] == []
    assert len(ontology["created_at"]) == len("YYYY-MM-DD HH:MM:SS") and "T" not in ontology["created_at"]
    ontology_hash = ontology["ontology_hash"]

    update = {**ontology, "title": "Renamed"}
    _, saved = await wire.v1(
        user,
        "ontology",
        "PUT",
        uid=ontology_hash,
        payload=update,
        resource_type="ontology",
        resource_id=ontology_hash,
    )
    assert saved == {"status": 200, "response": True}
    _, fetched = await wire.v1(
        user, "ontology", "GET", uid=ontology_hash, resource_type="ontology", resource_id=ontology_hash
    )
    assert fetched["response"]["title"] == "Renamed" and fetched["response"]["user_role"] == 0
    _, listed = await wire.v1(user, "ontologywithuserrole", "GET", payload={"filter": {"title_eq": "Renamed"}})
    assert [(row["user_role"], row["ontology"]["ontology_hash"]) for row in listed["response"]] == [(0, ontology_hash)]


async def test_legacy_v1_dataset_calls_round_trip(user: SandboxUser, wire: Wire) -> None:
    payload = {"title": "Old D", "type": 2, "description": "gcp", "create_backing_folder": True}
    _, created = await wire.v1(user, "dataset", "POST", payload=payload)
    dataset_hash = created["response"]["dataset_hash"]
    assert created["response"]["type"] == 2 and created["response"]["backing_folder_uuid"]

    _, fetched = await wire.v1(
        user,
        "dataset",
        "GET",
        payload={"dataset_access_settings": {"fetch_client_metadata": False, "fetch_rows": False}},
        resource_type="dataset",
        resource_id=dataset_hash,
    )
    assert fetched["response"]["dataset_type"] == "GCP_STR" and "data_rows" not in fetched["response"]
    _, listed = await wire.v1(user, "datasetwithuserrole", "GET", payload={"filter": {}, "enable_storage_api": True})
    assert [(row["user_role"], row["dataset"]["type"]) for row in listed["response"]] == [(0, 2)]


async def test_v1_resource_call_needs_a_known_resource_type(user: SandboxUser, wire: Wire) -> None:
    project_hash = await create_project(wire, user)
    _, answer = await wire.v1(user, "project", "GET", resource_type="dataset", resource_id=project_hash)
    assert error_code(answer) == "METHOD_NOT_ALLOWED_ERROR"  # a project query is no dataset operation
    _, answer = await wire.v1(user, "dataset", "GET", resource_type="dataset", resource_id=project_hash)
    assert error_code(answer) == "RESOURCE_NOT_FOUND_ERROR"  # hashes of one kind never resolve as another
    _, answer = await wire.v1(user, "project", "GET", resource_type="folder", resource_id=project_hash)
    assert error_code(answer) == "INVALID_ARGUMENTS_ERROR"


def test_sandbox_stops_cleanly_on_sigterm(sandbox_factory: Callable[[Path | None], Sandbox]) -> None:
    server = sandbox_factory(None)
    server.stop()
    assert server.process.returncode == 0
