"""The name of each resource type: one table for policy patterns, v1 ResourceType headers and API-key kinds."""

from __future__ import annotations

from .._generated.encord.gateway.v1 import options_pb2

RESOURCE_KIND: dict[int, str | None] = {
    options_pb2.RESOURCE_TYPE_UNSPECIFIED: None,
    options_pb2.RESOURCE_TYPE_PROJECT: "project",
    options_pb2.RESOURCE_TYPE_DATASET: "dataset",
    options_pb2.RESOURCE_TYPE_ONTOLOGY: "ontology",
    options_pb2.RESOURCE_TYPE_STORAGE_FOLDER: "storage_folder",
    options_pb2.RESOURCE_TYPE_STORAGE_ITEM: "storage_item",
    options_pb2.RESOURCE_TYPE_GROUP: "group",
    options_pb2.RESOURCE_TYPE_ORGANISATION_USER: "organisation_user",
    options_pb2.RESOURCE_TYPE_ORGANISATION_TAG: "organisation_tag",
    options_pb2.RESOURCE_TYPE_CLOUD_INTEGRATION: "cloud_integration",
    options_pb2.RESOURCE_TYPE_ML_MODEL: "ml_model",
    options_pb2.RESOURCE_TYPE_COLLECTION: "collection",
    options_pb2.RESOURCE_TYPE_FILTER_PRESET: "filter_preset",
}

KINDS = frozenset(kind for kind in RESOURCE_KIND.values() if kind is not None)
"""Every kind a policy grant can name (`<kind>:*`, `<kind>:<id>`)."""

V1_RESOURCE_TYPES = frozenset({"project", "dataset", "ontology"})
"""Kinds the v1 envelope can name in its ResourceType header (storage folders exist only in v2)."""


def v1_resource_header(resource_type: int) -> str:
    """The v1 `ResourceType` header value for a resource type, or "" when v1 cannot name it."""
    kind = RESOURCE_KIND.get(resource_type)
    return kind if kind in V1_RESOURCE_TYPES else ""
