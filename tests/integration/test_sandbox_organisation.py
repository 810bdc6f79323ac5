"""The sandbox's organisations over real sockets: members and their rules, groups whose grants change who sees
what, tags, cloud integrations, metadata schemas, project users, copies and status (issue 14).

Calls are signed and sent as the gateway sends them (its UpstreamClient), so refusals show Encord's status.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pytest
from encord_gateway.errors import GatewayError
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream.calls import WireCall
from encord_gateway.upstream.client import UpstreamClient
from encord_gateway.upstream.signing import encode_body

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser


class Api:
    """One user's v1 and v2 calls to the sandbox."""

    def __init__(self, client: UpstreamClient, user: SandboxUser) -> None:
        self.client, self.user = client, user

    @property
    def email(self) -> str:
        return self.user.email

    async def v2(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        call = WireCall(
            "v2",
            method,
            f"/v2/public/{path}",
            urlencode(query, doseq=True),
            None if body is None else encode_body(body),
            "",
            "",
            path,
            method,
            False,
        )
        return await self.client.send(call, self.user.signer, time.monotonic() + 10)

    async def v1(
        self,
        query_type: str,
        method: str,
        *,
        uid: Any = None,
        payload: Any = None,
        resource: tuple[str, str] | None = None,
    ) -> Any:
        envelope = {"query_type": query_type, "query_method": method, "values": {"uid": uid, "payload": payload}}
        kind, resource_id = resource or ("", "")
        call = WireCall(
            "v1",
            "POST",
            "/public" if kind else "/public/user",
            "",
            encode_body(envelope),
            kind,
            resource_id,
            query_type,
            method,
            False,
        )
        return await self.client.send(call, self.user.signer, time.monotonic() + 10)

    async def refusal(self, method: str, path: str, body: Any = None, **query: Any) -> int:
        """The HTTP status a v2 call is refused with."""
        with pytest.raises(GatewayError) as raised:
            await self.v2(method, path, body, **query)
        return int(raised.value.metadata["http_status"])

    # The calls these tests make again and again.

    async def add_member(self, email: str, role: str = "MEMBER", member_type: str = "internal") -> None:
        await self.v2(
            "POST", "organisation/users", {"email": email, "roleMnemonicName": role, "memberType": member_type}
        )

    async def members(self) -> dict[str, str]:
        page = await self.v2("GET", "organisation/users")
        return {u["email"]: u["roleMnemonicName"] for u in page["results"]}

    async def new_project(self, title: str = "Project") -> str:
        return str(await self.v1("project", "POST", payload={"title": title, "dataset_hashes": []}))

    async def new_dataset(self, title: str = "Dataset") -> str:
        return str((await self.v2("POST", "datasets", {"title": title}))["datasetUuid"])

    async def new_group(self, name: str = "Group") -> str:
        return str((await self.v2("POST", "organisation/groups", {"name": name}))["groupHash"])

    async def project_titles(self) -> list[str]:
        return [p["title"] for p in (await self.v2("GET", "projects", includeOrgAccess="False"))["results"]]


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[UpstreamClient]:
    upstream = UpstreamClient(sandbox.url, Metrics())
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.close()


@pytest.fixture
def admin(client: UpstreamClient, user: SandboxUser) -> Api:
    return Api(client, user)


@pytest.fixture
async def member(client: UpstreamClient, admin: Api, sandbox: Sandbox) -> Api:
    """A MEMBER of the admin's organisation: added first, then signed up (so the organisation is its own)."""
    email = f"member-{uuid.uuid4().hex[:10]}@sandbox.test"
    await admin.add_member(email)
    return Api(client, sandbox.new_user(email))


# ---- members ---------------------------------------------------------------------------------------


async def test_a_new_user_is_the_internal_admin_of_an_organisation_of_its_own(admin: Api) -> None:
    page = await admin.v2("GET", "organisation/users")

    assert [(u["email"], u["roleMnemonicName"], u["memberType"]) for u in page["results"]] == [
        (admin.email, "ADMIN", "internal")
    ]
    assert uuid.UUID(page["results"][0]["roleUuid"]) and page["nextPageToken"] is None


async def test_an_email_added_before_signing_up_joins_the_adding_organisation(admin: Api, member: Api) -> None:
    assert await member.members() == {admin.email: "ADMIN", member.email: "MEMBER"}
    assert await admin.members() == await member.members()


async def test_adding_a_member_twice_is_a_conflict_and_only_internal_members_may_be_admins(admin: Api) -> None:
    email = f"x-{uuid.uuid4().hex[:8]}@sandbox.test"
    await admin.add_member(email, "WORKFORCE_MANAGER", "external")

    body = {"email": email, "roleMnemonicName": "MEMBER", "memberType": "internal"}
    assert await admin.refusal("POST", "organisation/users", body) == 409
    outsider = {"email": f"y-{email}", "roleMnemonicName": "ADMIN", "memberType": "external"}
    assert await admin.refusal("POST", "organisation/users", outsider) == 400
    assert await admin.refusal("POST", "organisation/users", outsider | {"roleMnemonicName": "OWNER"}) == 400
    assert await admin.refusal("POST", "organisation/users", body | {"email": "not an e-mail"}) == 400
    assert (await admin.members())[email] == "WORKFORCE_MANAGER"


async def test_removing_needs_a_member_and_leaves_the_last_admin(admin: Api, member: Api, sandbox: Sandbox) -> None:
    stranger = sandbox.new_user()  # an account, but of another organisation
    assert await admin.refusal("DELETE", f"organisation/users/{quote(stranger.email, safe='')}") == 404
    assert await admin.refusal("DELETE", "organisation/users/nobody%40sandbox.test") == 404
    assert await admin.refusal("DELETE", f"organisation/users/{quote(admin.email, safe='')}") == 400

    await admin.v2("DELETE", f"organisation/users/{quote(member.email, safe='')}")

    assert await admin.members() == {admin.email: "ADMIN"}


async def test_members_who_are_not_admins_cannot_administer_the_organisation(admin: Api, member: Api) -> None:
    group = await admin.new_group()

    refusals = [
        await member.refusal(
            "POST",
            "organisation/users",
            {"email": "z@sandbox.test", "roleMnemonicName": "MEMBER", "memberType": "internal"},
        ),
        await member.refusal("DELETE", f"organisation/users/{quote(admin.email, safe='')}"),
        await member.refusal("POST", "organisation/organisation-tags", {"name": "mine"}),
        await member.refusal("POST", "organisation/groups", {"name": "mine"}),
        await member.refusal("PATCH", f"organisation/groups/{group}", {"name": "mine"}),
        await member.refusal("DELETE", f"organisation/groups/{group}"),
        await member.refusal("POST", "organisation/client-metadata-schema-v2", {"a": {"ty": "text"}}),
    ]

    assert refusals == [403] * len(refusals)
    # Reading is for every member.
    assert [g["name"] for g in (await member.v2("GET", "user/current-organisation/groups"))["results"]] == ["Group"]


# ---- groups and what they grant ------------------------------------------------------------------


async def test_a_group_grant_shows_a_project_to_the_groups_members_until_it_is_revoked(admin: Api, member: Api) -> None:
    project = await admin.new_project("Secret")
    group = await admin.new_group("Labellers")
    await admin.v2("POST", f"organisation/groups/{group}/users", {"userEmails": [member.email]})
    assert await member.project_titles() == []

    await admin.v2("POST", f"projects/{project}/groups", {"groupHashList": [group], "userRole": 1})

    assert await member.project_titles() == ["Secret"]
    assert (await member.v2("GET", f"projects/{project}"))["userRole"] == 1
    listed = (await member.v2("GET", f"projects/{project}/groups"))["results"]
    assert [(g["groupHash"], g["name"], g["isSameOrganisation"], g["userRole"]) for g in listed] == [
        (group, "Labellers", True, 1)
    ]
    # A group grant is not a role on the project itself: the project's user list does not show it.
    assert [u["userEmail"] for u in (await admin.v2("GET", f"projects/{project}/users"))["results"]] == [admin.email]

    await admin.v2("DELETE", f"projects/{project}/groups", groupHashList=[group])

    assert await member.project_titles() == []
    assert await member.refusal("GET", f"projects/{project}") == 404


async def test_the_strongest_of_a_users_roles_applies(admin: Api, member: Api) -> None:
    project = await admin.new_project()
    viewers, managers = await admin.new_group("Viewers"), await admin.new_group("Managers")
    for group in (viewers, managers):
        await admin.v2("POST", f"organisation/groups/{group}/users", {"userEmails": [member.email]})
    await admin.v2("POST", f"projects/{project}/groups", {"groupHashList": [viewers], "userRole": 5})
    await admin.v1(
        "projectusers",
        "POST",
        uid=project,
        payload={"user_emails": [member.email], "user_role": 1},
        resource=("project", project),
    )
    assert (await member.v2("GET", f"projects/{project}"))["userRole"] == 1  # annotator over viewer

    await admin.v2("POST", f"projects/{project}/groups", {"groupHashList": [managers], "userRole": 4})
    assert (await member.v2("GET", f"projects/{project}"))["userRole"] == 4  # team manager over both

    await admin.v2("POST", f"projects/{project}/users/bulk-delete", {"userEmails": [member.email]})
    await admin.v2("DELETE", f"projects/{project}/groups", groupHashList=[managers])
    assert (await member.v2("GET", f"projects/{project}"))["userRole"] == 5  # what the viewers' group leaves


async def test_an_admin_grant_lets_group_members_administer_datasets_and_ontologies(admin: Api, member: Api) -> None:
    dataset = await admin.new_dataset("Frames")
    ontology = await admin.v2("POST", "ontologies", {"title": "Shapes", "description": "", "editor": {}})
    group = await admin.new_group()
    await admin.v2("POST", f"organisation/groups/{group}/users", {"userEmails": [member.email]})
    assert await member.refusal("GET", f"ontologies/{ontology['ontologyUuid']}") == 404

    await admin.v2("POST", f"datasets/{dataset}/groups", {"groupHashList": [group], "userRole": 0})
    await admin.v2("POST", f"ontologies/{ontology['ontologyUuid']}/groups", {"groupHashList": [group], "userRole": 1})

    listed = (await member.v2("GET", "datasets/list", includeOrgAccess="False"))["result"]
    assert [(d["datasetUuid"], d["userRole"]) for d in listed] == [(dataset, "admin")]
    assert (await member.v2("GET", f"ontologies/{ontology['ontologyUuid']}"))["userRole"] == 1
    # As a dataset admin through the group, the member can grant others access too.
    await member.v2("POST", f"datasets/{dataset}/groups", {"groupHashList": [group], "userRole": 1})
    assert [g["userRole"] for g in (await admin.v2("GET", f"datasets/{dataset}/groups"))["results"]] == [1]
    assert (
        await member.refusal(
            "POST", f"ontologies/{ontology['ontologyUuid']}/groups", {"groupHashList": [group], "userRole": 0}
        )
        == 403
    )


async def test_groups_hold_only_members_of_their_organisation(admin: Api, sandbox: Sandbox) -> None:
    group = await admin.new_group()
    outsider = sandbox.new_user()

    assert await admin.refusal("POST", f"organisation/groups/{group}/users", {"userEmails": [outsider.email]}) == 403
    users = (await admin.v2("GET", f"organisation/groups/{group}/users"))["results"]
    assert users == [{"userEmail": admin.email}]  # the creator, its manager


async def test_a_group_of_another_organisation_is_not_found(
    admin: Api, client: UpstreamClient, sandbox: Sandbox
) -> None:
    other = Api(client, sandbox.new_user())
    foreign = await other.new_group()
    project = await admin.new_project()

    assert await admin.refusal("GET", f"organisation/groups/{foreign}") == 404
    assert await admin.refusal("POST", f"projects/{project}/groups", {"groupHashList": [foreign], "userRole": 1}) == 404


@pytest.mark.parametrize(
    "how", ["group deleted", "member removed from the group", "member removed from the organisation"]
)
async def test_access_through_a_group_ends_with_the_group_or_the_membership(admin: Api, member: Api, how: str) -> None:
    project = await admin.new_project("Shared")
    group = await admin.new_group()
    await admin.v2("POST", f"organisation/groups/{group}/users", {"userEmails": [member.email]})
    await admin.v2("POST", f"projects/{project}/groups", {"groupHashList": [group], "userRole": 2})
    assert await member.project_titles() == ["Shared"]

    if how == "group deleted":
        await admin.v2("DELETE", f"organisation/groups/{group}")
        assert (await admin.v2("GET", f"projects/{project}/groups"))["results"] == []
    elif how == "member removed from the group":
        await admin.v2("POST", f"organisation/groups/{group}/users/bulk-delete", {"userEmails": [member.email]})
    else:
        await admin.v2("DELETE", f"organisation/users/{quote(member.email, safe='')}")
        assert [u["userEmail"] for u in (await admin.v2("GET", f"organisation/groups/{group}/users"))["results"]] == [
            admin.email
        ]

    assert await member.project_titles() == []


async def test_groups_are_renamed_and_listed(admin: Api) -> None:
    group = await admin.new_group("Old")

    renamed = await admin.v2("PATCH", f"organisation/groups/{group}", {"description": "night shift"})
    assert (renamed["name"], renamed["description"]) == ("Old", "night shift")
    renamed = await admin.v2("PATCH", f"organisation/groups/{group}", {"name": "New"})
    assert (renamed["name"], renamed["description"]) == ("New", "night shift")
    assert await admin.refusal("PATCH", f"organisation/groups/{group}", {}) == 400
    assert (await admin.v2("GET", f"organisation/groups/{group}"))["name"] == "New"
    assert [g["groupHash"] for g in (await admin.v2("GET", "user/current-organisation/groups"))["results"]] == [group]


# ---- project and dataset users ---------------------------------------------------------------------


async def test_project_users_page_by_email(admin: Api) -> None:
    project = await admin.new_project()
    emails = [f"{c}-{uuid.uuid4().hex[:6]}@sandbox.test" for c in "cba"]
    await admin.v1(
        "projectusers",
        "POST",
        uid=project,
        payload={"user_emails": emails, "user_role": 2},
        resource=("project", project),
    )

    seen, token = [], None
    while True:
        page = await admin.v2("GET", f"projects/{project}/users", pageSize=2, **({"pageToken": token} if token else {}))
        seen.append([u["userEmail"] for u in page["results"]])
        token = page["nextPageToken"]
        if token is None:
            break

    assert seen == [sorted([*emails, admin.email])[:2], sorted([*emails, admin.email])[2:]]


async def test_removing_a_project_admin_takes_an_organisation_admin(admin: Api, member: Api) -> None:
    project = await member.new_project("Member's")
    await member.v1(
        "projectusers",
        "POST",
        uid=project,
        payload={"user_emails": [admin.email, "c@sandbox.test"], "user_role": 0},
        resource=("project", project),
    )

    assert (
        await member.refusal("POST", f"projects/{project}/users/bulk-delete", {"userEmails": ["c@sandbox.test"]}) == 403
    )
    await admin.v2("POST", f"projects/{project}/users/bulk-delete", {"userEmails": ["c@sandbox.test", "nobody@x.test"]})

    users = (await member.v2("GET", f"projects/{project}/users"))["results"]
    assert sorted(u["userEmail"] for u in users) == sorted([admin.email, member.email])


async def test_dataset_users_are_listed_with_the_dataset_and_removed(admin: Api) -> None:
    dataset = await admin.new_dataset()
    await admin.v1(
        "datasetusers",
        "POST",
        uid=dataset,
        payload={"user_emails": ["d@sandbox.test"], "user_role": 1},
        resource=("dataset", dataset),
    )

    listed = (await admin.v2("GET", f"datasets/{dataset}/users"))["results"]
    assert listed == [
        {"datasetUuid": dataset, "userEmail": admin.email, "userRole": 0},
        {"datasetUuid": dataset, "userEmail": "d@sandbox.test", "userRole": 1},
    ]
    await admin.v2("POST", f"datasets/{dataset}/users/bulk-delete", {"userEmails": ["d@sandbox.test"]})
    assert [u["userEmail"] for u in (await admin.v2("GET", f"datasets/{dataset}/users"))["results"]] == [admin.email]


# ---- project status and copies ---------------------------------------------------------------------


async def test_project_status_is_set_by_its_admin(admin: Api, member: Api) -> None:
    project = await admin.new_project()
    await admin.v2("PUT", f"projects/{project}/status", {"status": "paused"})

    assert (await admin.v2("GET", f"projects/{project}"))["status"] == "paused"
    assert await admin.refusal("PUT", f"projects/{project}/status", {"status": "sleeping"}) == 400
    assert await member.refusal("PUT", f"projects/{project}/status", {"status": "completed"}) == 404


def copy_payload(options: list[str], **labels_and_metadata: Any) -> dict[str, Any]:
    labels = {
        "datasets_to_data_hashes_map": {},
        "accepted_label_hashes": None,
        "accepted_label_statuses": None,
        "create_new_dataset": None,
    }
    metadata = {"project_title": None, "project_description": None, "dataset_title": None, "dataset_description": None}
    for key, value in labels_and_metadata.items():
        (labels if key in labels else metadata)[key] = value
    return {"copy_project_options": options, "copy_labels_options": labels, "project_copy_metadata": metadata}


async def test_a_copy_attaches_the_datasets_and_carries_the_collaborators(admin: Api, member: Api) -> None:
    project = await admin.new_project("Original")
    dataset = await admin.new_dataset()
    await admin.v1("projectdataset", "POST", payload={"dataset_hashes": [dataset]}, resource=("project", project))
    await admin.v1(
        "projectusers",
        "POST",
        uid=project,
        payload={"user_emails": [member.email], "user_role": 3},
        resource=("project", project),
    )

    copied = await admin.v1(
        "projectcopy",
        "POST",
        uid=project,
        resource=("project", project),
        payload=copy_payload(["datasets", "collaborators"], project_title="Copy"),
    )
    bare = await admin.v1("projectcopy", "POST", uid=project, resource=("project", project), payload=copy_payload([]))

    record = await admin.v2("GET", f"projects/{copied}")
    original = await admin.v2("GET", f"projects/{project}")
    assert (record["title"], record["ontologyHash"], record["status"]) == (
        "Copy",
        original["ontologyHash"],
        "notStarted",
    )
    assert [d["datasetHash"] for d in (await admin.v2("GET", f"projects/{copied}/datasets"))["results"]] == [dataset]
    assert (await member.v2("GET", f"projects/{copied}"))["userRole"] == 3
    assert (await admin.v2("GET", f"projects/{bare}"))["title"] == "Original (copy)"
    assert (await admin.v2("GET", f"projects/{bare}/datasets"))["results"] == []
    assert await member.refusal("GET", f"projects/{bare}") == 404


async def test_a_copy_clones_the_chosen_data_units_into_a_new_dataset(admin: Api, sandbox: Sandbox) -> None:
    project = await admin.new_project()
    dataset = await admin.new_dataset("Source")
    rows = sandbox.seed_data_units(dataset, [{"title": "a.jpg"}, {"title": "b.jpg"}, {"title": "c.jpg"}])
    await admin.v1("projectdataset", "POST", payload={"dataset_hashes": [dataset]}, resource=("project", project))
    chosen = [rows[0]["data_hash"], rows[2]["data_hash"]]

    copied = await admin.v1(
        "projectcopy",
        "POST",
        uid=project,
        resource=("project", project),
        payload=copy_payload(
            ["labels"],
            create_new_dataset=True,
            dataset_title="Clone",
            datasets_to_data_hashes_map={dataset: chosen},
            accepted_label_statuses=["APPROVED"],
        ),
    )

    (attached,) = (await admin.v2("GET", f"projects/{copied}/datasets"))["results"]
    assert attached["datasetHash"] != dataset and attached["title"] == "Clone"
    clone = await admin.v1(
        "dataset",
        "GET",
        payload={"dataset_access_settings": {"fetch_rows": True}},
        resource=("dataset", attached["datasetHash"]),
    )
    assert [r["data_title"] for r in clone["data_rows"]] == ["a.jpg", "c.jpg"]
    assert not {r["data_hash"] for r in clone["data_rows"]} & set(chosen)
    bad = copy_payload([], create_new_dataset=True, datasets_to_data_hashes_map={dataset: [str(uuid.uuid4())]})
    with pytest.raises(GatewayError) as raised:
        await admin.v1("projectcopy", "POST", uid=project, resource=("project", project), payload=bad)
    assert raised.value.reason == "INVALID_ARGUMENTS_ERROR"


# ---- tags, integrations, metadata schemas ---------------------------------------------------------


async def test_tags_attach_to_projects_feed_the_tag_filter_and_go_with_their_deletion(admin: Api) -> None:
    project, other = await admin.new_project("Tagged"), await admin.new_project("Plain")
    tag = await admin.v2("POST", "organisation/organisation-tags", {"name": "street", "description": "cars"})
    assert await admin.refusal("POST", "organisation/organisation-tags", {"name": "street"}) == 409

    await admin.v2("PUT", f"projects/{project}/tags/{tag['uuid']}")
    await admin.v2("PUT", f"projects/{project}/tags/{tag['uuid']}")  # twice changes nothing

    assert (await admin.v2("GET", f"projects/{project}/tags"))["results"] == [{"uuid": tag["uuid"], "name": "street"}]
    assert (await admin.v2("GET", f"projects/{other}/tags"))["results"] == []
    tagged = await admin.v2("GET", "projects", includeOrgAccess="False", tagsAnyof=["street", "other"])
    assert [p["title"] for p in tagged["results"]] == ["Tagged"]

    await admin.v2("DELETE", f"organisation/organisation-tags/{tag['uuid']}")
    assert (await admin.v2("GET", f"projects/{project}/tags"))["results"] == []
    assert (await admin.v2("GET", "projects", includeOrgAccess="False", tagsAnyof=["street"]))["results"] == []
    assert await admin.refusal("PUT", f"projects/{project}/tags/{tag['uuid']}") == 404


async def test_a_tag_is_detached_without_being_deleted(admin: Api, client: UpstreamClient, sandbox: Sandbox) -> None:
    project = await admin.new_project()
    tag = await admin.v2("POST", "organisation/organisation-tags", {"name": "kept"})
    foreign = await Api(client, sandbox.new_user()).v2("POST", "organisation/organisation-tags", {"name": "kept"})
    await admin.v2("PUT", f"projects/{project}/tags/{tag['uuid']}")

    await admin.v2("DELETE", f"projects/{project}/tags/{tag['uuid']}")

    assert (await admin.v2("GET", f"projects/{project}/tags"))["results"] == []
    assert [t["name"] for t in (await admin.v2("GET", "organisation/organisation-tags"))["results"]] == ["kept"]
    assert await admin.refusal("PUT", f"projects/{project}/tags/{foreign['uuid']}") == 404


async def test_cloud_integrations_are_the_users_own_unless_an_admin_asks_for_the_organisations(
    admin: Api, member: Api, sandbox: Sandbox
) -> None:
    def seed(owner: str, title: str) -> str:
        status, made = sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": owner, "title": title})
        assert status == 201, made
        return str(made["integration_uuid"])

    archive, scratch = seed(admin.email, "Archive"), seed(admin.email, "Scratch")
    theirs = seed(member.email, "Member bucket")

    def titles(answer: dict[str, Any]) -> list[str]:
        return [i["title"] for i in answer["result"]]

    assert titles(await admin.v2("GET", "cloud-integrations", includeOrgAccess="False")) == ["Archive", "Scratch"]
    everything = await admin.v2("GET", "cloud-integrations", includeOrgAccess="True")
    assert [i["integrationUuid"] for i in everything["result"]] == [archive, scratch, theirs]
    assert titles(await member.v2("GET", "cloud-integrations", includeOrgAccess="True")) == ["Member bucket"]
    both = await admin.v2(
        "GET",
        "cloud-integrations",
        includeOrgAccess="True",
        filterIntegrationUuids=[archive, theirs],
        filterIntegrationTitles=["Member bucket"],
    )
    assert titles(both) == ["Member bucket"]
    assert await admin.v1("cloudintegration", "GET") == [
        {"id": archive, "title": "Archive"},
        {"id": scratch, "title": "Scratch"},
    ]
    assert sandbox.control("POST", "/sandbox/v1/cloud-integrations", {"owner": "nobody@x.test", "title": "t"})[0] == 404


async def test_the_metadata_schemas_are_the_organisations_and_checked(admin: Api, member: Api) -> None:
    assert await admin.v2("GET", "organisation/client-metadata-schema-v2") is None
    assert await admin.v2("GET", "organisation/client-metadata-schema") is None
    schema = {"camera model": {"ty": "varchar", "max_length": 80}, "speed": {"ty": "number", "format": "F64"}}

    await admin.v2("POST", "organisation/client-metadata-schema-v2", schema)
    await admin.v2("POST", "organisation/client-metadata-schema", {"camera": "string"})

    assert await member.v2("GET", "organisation/client-metadata-schema-v2") == schema
    legacy = await member.v2("GET", "organisation/client-metadata-schema")
    assert legacy["metadataSchema"] == {"camera": "string"} and uuid.UUID(legacy["uuid"])
    assert isinstance(legacy["organisationId"], int)
    for bad in ({"$key": {"ty": "text"}}, {"ok": {"ty": "colour"}}, {"ok": "text"}):
        assert await admin.refusal("POST", "organisation/client-metadata-schema-v2", bad) == 400
    assert await admin.refusal("POST", "organisation/client-metadata-schema", {"camera": "str"}) == 400
    assert await admin.v2("GET", "organisation/client-metadata-schema-v2") == schema
