"""One message per resource, one type per field, whichever wire call filled it.

Before: `user_role` was `0` on ontologies, `"admin"` on datasets and `"PROJECT_USER_ROLE_ADMIN"` on projects,
and GetDataset (v1 `dataset_type: "CORD_STORAGE"`) and ListDatasets (v2 `storageLocation: 0`) filled
different storage fields. An enum value's `wire_value_alias` lets one enum read a value that travels as
an integer in one call and as a string in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from encord_gateway._generated.encord.gateway.v1 import common_pb2, datasets_pb2, ontologies_pb2, projects_pb2
from encord_gateway.operations import catalog
from encord_gateway.operations.wiremap import decode_value, encode_message
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

ADMIN = datasets_pb2.DATASET_USER_ROLE_ADMIN


def public_messages() -> Iterator[Descriptor]:
    for module in catalog.api_modules():
        if ".gateway.v1." in module.__name__:
            yield from module.DESCRIPTOR.message_types_by_name.values()


def test_every_user_role_of_the_public_api_is_an_enum() -> None:
    kinds = {
        f"{message.name}.user_role": FieldDescriptor.TYPE_ENUM == message.fields_by_name["user_role"].type
        for message in public_messages()
        if "user_role" in message.fields_by_name
    }
    assert {"Dataset.user_role", "Ontology.user_role", "Project.user_role", "OntologyWithRole.user_role"} <= set(kinds)
    assert all(kinds.values()), {name for name, is_enum in kinds.items() if not is_enum}


def test_a_storage_location_is_the_same_enum_everywhere() -> None:
    types = {
        message.fields_by_name["storage_location"].enum_type.full_name
        if message.fields_by_name["storage_location"].enum_type
        else None
        for message in public_messages()
        if "storage_location" in message.fields_by_name
    }
    assert types == {"encord.gateway.v1.StorageLocation"}


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        ("ListDatasets (v2 datasets/list)", {"datasetUuid": "d1", "userRole": "admin", "storageLocation": 0}),
        ("GetDataset (v1 dataset GET)", {"dataset_hash": "d1", "dataset_type": "CORD_STORAGE", "data_rows": []}),
        ("ListDatasetsWithRoles (v1 legacy record)", {"dataset_hash": "d1", "type": 0}),
    ],
)
def test_every_dataset_call_fills_the_same_storage_field(call: str, answer: dict[str, Any]) -> None:
    dataset = decode_value(datasets_pb2.Dataset, answer)
    assert dataset.storage_location == common_pb2.STORAGE_LOCATION_CORD_STORAGE, call


@pytest.mark.parametrize("spelling", ["GCP_STR", 2])
def test_a_storage_location_reads_from_its_name_or_its_code(spelling: object) -> None:
    assert decode_value(datasets_pb2.Dataset, {"type": spelling}).storage_location == common_pb2.STORAGE_LOCATION_GCP


def test_a_dataset_role_reads_the_same_as_a_string_or_an_integer() -> None:
    from_v2 = decode_value(datasets_pb2.Dataset, {"userRole": "admin"})
    from_v1 = decode_value(datasets_pb2.DatasetWithRole, {"user_role": 0, "dataset": {}})
    assert from_v2.user_role == from_v1.user_role == ADMIN
    assert decode_value(datasets_pb2.Dataset, {"userRole": "user"}).user_role == datasets_pb2.DATASET_USER_ROLE_USER
    assert decode_value(datasets_pb2.Dataset, {"userRole": "owner"}).user_role == 0  # unknown: unset, not a crash


def test_the_three_resources_report_their_role_in_one_json_form() -> None:
    dataset = decode_value(datasets_pb2.Dataset, {"userRole": "admin"})
    ontology = decode_value(ontologies_pb2.Ontology, {"userRole": 0})
    project = decode_value(projects_pb2.Project, {"userRole": 0})
    roles = [
        json_format.MessageToDict(m, preserving_proto_field_name=True)["user_role"]
        for m in (dataset, ontology, project)
    ]
    assert roles == ["DATASET_USER_ROLE_ADMIN", "ONTOLOGY_USER_ROLE_ADMIN", "PROJECT_USER_ROLE_ADMIN"]


def test_an_alias_is_read_only_the_wire_value_is_what_is_sent() -> None:
    sent = encode_message(datasets_pb2.DatasetWithRole(user_role=ADMIN), camel=False)
    assert sent == {"user_role": 0}
