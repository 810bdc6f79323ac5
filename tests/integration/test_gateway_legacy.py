"""The legacy (v1) calls through the gateway: listings with roles, legacy creation, and what an API key is.

Each listing is filtered by titles unique to the test, so the shared organisation's other resources
never show; the sandbox's request log proves when a call must not reach Encord at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import common_pb2, datasets_pb2, ontologies_pb2, projects_pb2

if TYPE_CHECKING:
    from conftest import GatewayKit, GatewayProcess, Sandbox, Stubs


@dataclass(frozen=True)
class LegacyListing:
    """One kind of resource: how to make one, and how to list (title, role) pairs with a legacy filter."""

    create: Callable[[Stubs, GatewayProcess, str], str]
    listed: Callable[[Stubs, GatewayProcess, common_pb2.LegacyListingFilter], list[tuple[str, Any]]]
    admin: Any  # the role the creating organisation holds, as the listing reports it


def _project(stubs: Stubs, gateway: GatewayProcess, title: str) -> str:
    request = projects_pb2.CreateProjectRequest(title=title, description=f"about {title}")
    return str(stubs.projects.CreateProject(request, metadata=gateway.auth_metadata).project_hash)


def _dataset(stubs: Stubs, gateway: GatewayProcess, title: str) -> str:
    request = datasets_pb2.CreateDatasetRequest(title=title, description=f"about {title}")
    return str(stubs.datasets.CreateDataset(request, metadata=gateway.auth_metadata).dataset_hash)


def _ontology(stubs: Stubs, gateway: GatewayProcess, title: str) -> str:
    request = ontologies_pb2.CreateOntologyRequest(title=title, description=f"about {title}")
    return str(stubs.ontologies.CreateOntology(request, metadata=gateway.auth_metadata).ontology_hash)


LISTINGS = {
    "projects": LegacyListing(
        _project,
        lambda stubs, gw, flt: [
            (p.project.title, p.user_role)
            for p in stubs.projects.ListProjectsWithRoles(
                projects_pb2.ListProjectsWithRolesRequest(filter=flt), metadata=gw.auth_metadata
            ).projects
        ],
        common_pb2.PROJECT_USER_ROLE_ADMIN,
    ),
    "datasets": LegacyListing(
        _dataset,
        lambda stubs, gw, flt: [
            (d.dataset.title, d.user_role)
            for d in stubs.datasets.ListDatasetsWithRoles(
                datasets_pb2.ListDatasetsWithRolesRequest(filter=flt), metadata=gw.auth_metadata
            ).datasets
        ],
        datasets_pb2.DATASET_USER_ROLE_ADMIN,
    ),
    "ontologies": LegacyListing(
        _ontology,
        # The outer user_role has no presence (admin is 0); the record's own optional one tells "admin" from "unknown".
        lambda stubs, gw, flt: [
            (o.ontology.title, o.ontology.user_role if o.ontology.HasField("user_role") else None)
            for o in stubs.ontologies.ListOntologiesWithRoles(
                ontologies_pb2.ListOntologiesWithRolesRequest(filter=flt), metadata=gw.auth_metadata
            ).ontologies
        ],
        0,  # admin
    ),
}


@pytest.mark.parametrize("kind", LISTINGS)
def test_a_legacy_listing_filters_by_title_and_reports_the_role(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str], kind: str
) -> None:
    listing = LISTINGS[kind]
    prefix = make_title("legacy")
    alpha, beta = f"{prefix}-alpha", f"{prefix}-beta"
    listing.create(stubs, gateway, alpha)
    listing.create(stubs, gateway, beta)

    def listed(**filters: str) -> list[tuple[str, Any]]:
        return sorted(listing.listed(stubs, gateway, common_pb2.LegacyListingFilter(**filters)))

    assert listed(title_eq=alpha) == [(alpha, listing.admin)]
    assert listed(title_like=f"{prefix}-%") == [(alpha, listing.admin), (beta, listing.admin)]
    assert listed(title_like=f"%{prefix}-b%") == [(beta, listing.admin)]
    assert listed(title_like=f"{prefix}-%", desc_eq=f"about {beta}") == [(beta, listing.admin)]
    assert listed(title_eq=f"{prefix}-gamma") == []


def test_a_legacy_project_listing_carries_the_project_record(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    title = make_title("legacy-record")
    project_hash = _project(stubs, gateway, title)

    (listed,) = stubs.projects.ListProjectsWithRoles(
        projects_pb2.ListProjectsWithRolesRequest(filter=common_pb2.LegacyListingFilter(title_eq=title)),
        metadata=gateway.auth_metadata,
    ).projects

    assert listed.project.project_hash == project_hash
    assert listed.project.description == f"about {title}"
    assert listed.project.ontology_hash
    assert listed.project.created_at.seconds > 0


def test_a_legacy_dataset_keeps_its_storage_location_and_description(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    title = make_title("legacy-dataset")

    created = stubs.datasets.CreateDatasetLegacy(
        datasets_pb2.CreateDatasetLegacyRequest(
            title=title, storage_location=common_pb2.STORAGE_LOCATION_AWS_S3, description="scans"
        ),
        metadata=gateway.auth_metadata,
    )

    assert created.dataset_hash and created.title == title
    assert created.storage_location == common_pb2.STORAGE_LOCATION_AWS_S3
    (listed,) = stubs.datasets.ListDatasetsWithRoles(
        datasets_pb2.ListDatasetsWithRolesRequest(filter=common_pb2.LegacyListingFilter(title_eq=title)),
        metadata=gateway.auth_metadata,
    ).datasets
    assert listed.dataset.dataset_hash == created.dataset_hash
    assert listed.dataset.storage_location == common_pb2.STORAGE_LOCATION_AWS_S3
    assert listed.dataset.description == "scans"
    assert listed.user_role == datasets_pb2.DATASET_USER_ROLE_ADMIN


def test_a_legacy_dataset_over_rest_defaults_to_encord_storage(
    gateway: GatewayProcess, make_title: Callable[[str], str]
) -> None:
    title = make_title("legacy-rest")

    reply = gateway.rest("POST", "/v1/datasets:createLegacy", body={"title": title})

    body = reply.json()
    assert reply.status == 200, body
    assert body["title"] == title and body["dataset_hash"]
    assert body["storage_location"] == "STORAGE_LOCATION_CORD_STORAGE"


# ---- what an API key is (K-07) ----------------------------------------------------------------


def test_describing_a_project_api_key_with_none_registered_fails_without_calling_encord(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, gateway_kit: GatewayKit, make_title: Callable[[str], str]
) -> None:
    project_hash = _project(stubs, gateway, make_title("keyless"))
    sandbox.clear_requests_log()

    with pytest.raises(grpc.RpcError) as caught:
        stubs.projects.DescribeProjectApiKey(
            projects_pb2.DescribeProjectApiKeyRequest(project_hash=project_hash), metadata=gateway.auth_metadata
        )

    details = gateway_kit.grpc_error(caught.value)
    assert (details.code, details.reason) == ("FAILED_PRECONDITION", "NO_API_KEY")
    assert [e for e in sandbox.requests_log() if e["user"] == gateway.user.email] == []


def test_describing_a_project_api_key_answers_what_encord_knows_of_it(
    gateway: GatewayProcess, stubs: Stubs, sandbox: Sandbox, make_title: Callable[[str], str]
) -> None:
    project_hash = _project(stubs, gateway, make_title("keyed"))
    stubs.projects.CreateProjectApiKey(
        projects_pb2.CreateProjectApiKeyRequest(project_hash=project_hash, title="labeller", scopes=["label.read"]),
        metadata=gateway.auth_metadata,
    )
    sandbox.clear_requests_log()

    meta = stubs.projects.DescribeProjectApiKey(
        projects_pb2.DescribeProjectApiKeyRequest(project_hash=project_hash), metadata=gateway.auth_metadata
    )

    assert (meta.title, meta.resource_type) == ("labeller", "project")
    (call,) = [e for e in sandbox.requests_log() if e["query_type"] == "apikeymeta"]
    assert (call["auth"], call["resource_id"], call["outcome"]) == ("api_key", project_hash, "ok")


def test_describing_a_dataset_api_key_over_rest(
    gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]
) -> None:
    dataset_hash = _dataset(stubs, gateway, make_title("keyed"))
    stubs.datasets.CreateDatasetApiKey(
        datasets_pb2.CreateDatasetApiKeyRequest(dataset_hash=dataset_hash, title="reader", scopes=["dataset.read"]),
        metadata=gateway.auth_metadata,
    )

    reply = gateway.rest("GET", f"/v1/datasets/{dataset_hash}/api-keys:describe")

    assert reply.status == 200, reply.body
    assert reply.json() == {"title": "reader", "resource_type": "dataset"}
