"""Policies decide deny-by-default: only a grant covering organisation, resource and right allows a call."""

from __future__ import annotations

import pytest
from encord_gateway.access.policy import Policy, PolicyError, parse_policy

GET_PROJECT = "encord.gateway.v1.ProjectService.GetProject"
LIST_PROJECTS = "encord.gateway.v1.ProjectService.ListProjects"
CREATE_PROJECT = "encord.gateway.v1.ProjectService.CreateProject"
LIST_CREDENTIALS = "encord.gateway.admin.v1.CredentialAdminService.ListCredentials"


def policy(*grants: dict[str, object]) -> Policy:
    return parse_policy({"grants": list(grants)})


def test_an_empty_policy_allows_nothing() -> None:
    empty = policy()
    assert not empty.allows("acme", "project", "p", "read", GET_PROJECT)
    assert not empty.allows_admin(None, LIST_CREDENTIALS)


def test_a_grant_covers_only_its_own_organisation() -> None:
    acme = policy({"organisation": "acme", "resources": ["*"], "rights": ["read", "write"]})
    assert acme.allows("acme", "project", "p", "read", GET_PROJECT)
    assert not acme.allows("globex", "project", "p", "read", GET_PROJECT)


def test_read_only_cannot_write() -> None:
    reader = policy({"organisation": "acme", "resources": ["*"], "rights": ["read"]})
    assert reader.allows("acme", "project", None, "read", LIST_PROJECTS)
    assert not reader.allows("acme", "project", None, "write", CREATE_PROJECT)


def test_a_single_resource_grant_allows_that_resource_and_no_collection() -> None:
    one = policy({"organisation": "acme", "resources": ["project:p1"], "rights": ["read"]})
    assert one.allows("acme", "project", "p1", "read", GET_PROJECT)
    assert not one.allows("acme", "project", "p2", "read", GET_PROJECT)
    assert not one.allows("acme", "project", None, "read", LIST_PROJECTS)
    assert not one.allows("acme", "dataset", "p1", "read", GET_PROJECT)


def test_kind_wildcards_cover_the_collection_of_that_kind_only() -> None:
    projects = policy({"organisation": "acme", "resources": ["project:*"], "rights": ["read"]})
    assert projects.allows("acme", "project", None, "read", LIST_PROJECTS)
    assert not projects.allows("acme", "dataset", None, "read", LIST_PROJECTS)
    assert not projects.allows("acme", None, None, "read", LIST_PROJECTS)


def test_named_method_rights_allow_exactly_that_method() -> None:
    named = policy({"organisation": "acme", "resources": ["*"], "rights": ["ProjectService.GetProject"]})
    assert named.allows("acme", "project", "p", "read", GET_PROJECT)
    assert not named.allows("acme", "project", None, "read", LIST_PROJECTS)


def test_admin_calls_need_the_admin_right_and_gateway_wide_ones_need_every_organisation() -> None:
    acme_admin = policy({"organisation": "acme", "resources": ["*"], "rights": ["admin"]})
    assert acme_admin.allows_admin("acme", LIST_CREDENTIALS)
    assert not acme_admin.allows_admin("globex", LIST_CREDENTIALS)
    assert not acme_admin.allows_admin(None, LIST_CREDENTIALS)
    assert not acme_admin.allows("acme", "project", "p", "read", GET_PROJECT)
    everywhere = policy({"organisation": "*", "resources": ["*"], "rights": ["admin"]})
    assert everywhere.allows_admin(None, LIST_CREDENTIALS)


def test_data_rights_never_imply_admin() -> None:
    writer = policy({"organisation": "*", "resources": ["*"], "rights": ["read", "write"]})
    assert not writer.allows_admin("acme", LIST_CREDENTIALS)


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"grants": [{"organisation": "", "resources": ["*"], "rights": ["read"]}]}, "grants[0].organisation"),
        ({"grants": [{"organisation": "a", "resources": ["projects:*"], "rights": ["read"]}]}, "grants[0].resources"),
        ({"grants": [{"organisation": "a", "resources": ["*"], "rights": ["delete"]}]}, "grants[0].rights"),
        ({"grants": [{"organisation": "a", "resources": [], "rights": ["read"]}]}, "grants[0].resources"),
        ({"grants": [], "limits": {"burst": 0}}, "limits.burst"),
        ({"grants": [], "limits": {"requests_per_second": "fast"}}, "limits.requests_per_second"),
        ({"grant": []}, "unknown policy members"),
        ("not json", "not valid JSON"),
    ],
)
def test_malformed_policies_are_refused_naming_the_member(document: object, names: str) -> None:
    with pytest.raises(PolicyError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(document)


def test_a_policy_survives_its_json_round_trip() -> None:
    original = parse_policy(
        {
            "grants": [{"organisation": "acme", "resources": ["project:p1", "dataset:*"], "rights": ["read", "admin"]}],
            "limits": {"requests_per_second": 2.5, "burst": 5, "max_concurrent": 3},
        }
    )
    assert parse_policy(original.to_json()) == original
