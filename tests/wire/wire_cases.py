"""The wire-equality cases: per gateway operation, the SDK's call for it and the gateway request that must match.

To add an operation: append a WireCase naming its RPC and the catalogue IDs it proves, a setup that
makes the resources both sides act on, the SDK call (or, for rows the SDK dropped, a
`legacy_v1_call` with the payload §5 of the wire document gives, in its key order) and the
gateway's request message.

Free-form members: a google.protobuf.Struct (an ontology structure, a legacy classification) keeps
no key order, so the gateway sends its keys sorted and whole numbers as integers; cases whose body
carries one say `free_form=True` and are compared as parsed JSON (test_wire_equality checks that
those bytes are the same on every call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import cases_organisation
import encord.project_ontology.ontology as legacy_ontology
from encord.objects import OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.orm.dataset import DatasetAccessSettings, StorageLocation
from encord.orm.project import BenchmarkQaWorkflowSettings
from encord.project_ontology.classification_type import ClassificationType
from encord.project_ontology.object_type import ObjectShape
from encord_gateway._generated.encord.gateway.v1 import (
    common_pb2,
    datasets_pb2,
    ontologies_pb2,
    projects_pb2,
)
from encord_gateway.sandbox.paging import DEFAULT_PAGE_SIZE
from google.protobuf import struct_pb2, timestamp_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import api_key_v1_call, legacy_v1_call

# Filter values that exercise the encodings the signatures cover: non-ASCII text (\uXXXX in JSON
# bodies, UTF-8 percent-escapes in query strings), reserved characters, and datetimes with microseconds.
AWKWARD_TEXT = "Straße — 東京 50% a b&c+d/e?f=g"
LONG_AGO = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
FAR_AHEAD = datetime(2099, 12, 31, 23, 59, 58, 1, tzinfo=UTC)


def car_and_weather() -> OntologyStructure:
    """An ontology with an object and a radio classification (the SDK picks their feature hashes once)."""
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


@contextmanager
def drawn_feature_hashes() -> Iterator[list[str]]:
    """The feature-node hashes the SDK's legacy ontology draws meanwhile, in order.

    A spy, not a stub: the SDK still draws its own random values; the gateway's request is then built
    with the same ones, so the bodies can be compared byte for byte instead of with masks.
    """
    drawn: list[str] = []
    real: Callable[[], str] = legacy_ontology.generate_feature_node_hash

    def spy() -> str:
        drawn.append(real())
        return drawn[-1]

    legacy_ontology.generate_feature_node_hash = spy
    try:
        yield drawn
    finally:
        legacy_ontology.generate_feature_node_hash = real


def titled(sides: WireSides) -> Given:
    return {"title": sides.unique("title")}


def with_project(sides: WireSides) -> Given:
    """A project (with its own empty ontology) under a fresh title."""
    title = sides.unique("project")
    return {"title": title, "project": sides.new_project(title)}


def with_dataset(sides: WireSides) -> Given:
    title = sides.unique("dataset")
    return {"title": title, "dataset": sides.new_dataset(title, "dashcam footage")}


def with_ontology(sides: WireSides) -> Given:
    title = sides.unique("ontology")
    return {"title": title, "ontology": sides.new_ontology(title, car_and_weather())}


def with_project_client(sides: WireSides) -> Given:
    """A fresh project's legacy client (`Project._client`), and its ontology editor (still empty)."""
    project = with_project(sides)["project"]
    client = sides.sdk.get_project(project)._client
    return {"project": project, "client": client, "editor": client.get_project()["editor_ontology"]}


def restore_editor(sides: WireSides, given: Given) -> None:
    """Put back the editor the SDK appended to, so that the gateway appends to the same one."""
    legacy_v1_call(
        sides.sdk, "project", "POST", payload={"editor": given["editor"]}, resource=("project", given["project"])
    )


def with_many_projects(sides: WireSides) -> Given:
    """One more project than the sandbox puts in a page, under one prefix: list_projects needs two pages."""
    prefix = sides.unique("paged")
    for number in range(DEFAULT_PAGE_SIZE + 1):
        sides.new_project(f"{prefix}-{number:03d}")
    return {"pattern": f"{prefix}-%", "count": DEFAULT_PAGE_SIZE + 1}


def listed_projects(sides: WireSides, given: Given) -> None:
    projects = list(sides.sdk.list_projects(title_like=given["pattern"]))
    assert len(projects) == given["count"], "the reference must span two of Encord's pages"


def with_project_api_key(sides: WireSides) -> Given:
    """A project and an API key of it, made with the legacy K-01 call and registered in the gateway's vault."""
    project = with_project(sides)["project"]
    api_key = legacy_v1_call(
        sides.sdk, "projectapikey", "POST", uid=project, payload={"title": "describer", "scopes": ["label.read"]}
    )
    sides.register_api_key("project", project, api_key, ["label.read"])
    return {"project": project, "api_key": api_key}


def with_dataset_api_key(sides: WireSides) -> Given:
    """A dataset and an API key of it, made with the legacy K-04 call and registered in the gateway's vault."""
    dataset = with_dataset(sides)["dataset"]
    created = legacy_v1_call(
        sides.sdk,
        "datasetapikey",
        "POST",
        payload={"dataset_hash": dataset, "title": "describer", "scopes": ["dataset.read"]},
    )
    sides.register_api_key("dataset", dataset, created["api_key"], ["dataset.read"])
    return {"dataset": dataset, "api_key": created["api_key"]}


def with_project_key_in_encord(sides: WireSides) -> Given:
    """A project with an API key Encord holds and the gateway does not (yet): what K-02 brings over."""
    project = with_project(sides)["project"]
    legacy_v1_call(sides.sdk, "projectapikey", "POST", uid=project, payload={"title": "ci", "scopes": ["label.read"]})
    return {"project": project}


def with_dataset_key_in_encord(sides: WireSides) -> Given:
    dataset = with_dataset(sides)["dataset"]
    payload = {"dataset_hash": dataset, "title": "ci", "scopes": ["dataset.read"]}
    legacy_v1_call(sides.sdk, "datasetapikey", "POST", payload=payload)
    return {"dataset": dataset}


def describe_api_key(sides: WireSides, given: Given, resource: str) -> object:
    """K-07 as an old API-key client sent it on start: `apikeymeta GET`, no uid, no payload."""
    return api_key_v1_call(sides.recorder.url, given["api_key"], given[resource], "apikeymeta", "GET")


def with_legacy_ontology_changes(sides: WireSides) -> Given:
    """An ontology, plus the structure a caller saves in place of its own (new hashes, one more object)."""
    given = with_ontology(sides)
    structure = car_and_weather()
    structure.add_object("Truck", Shape.POLYGON)
    return {**given, "new_title": sides.unique("renamed"), "structure": structure.to_dict()}


# O-04L writes back the `last_edited_at` it read, which the SDK's own save has just stamped afresh
# before the gateway reads it (the two differ whenever a second boundary passes in between).
LEGACY_SAVE_STAMP = ("values.payload.last_edited_at",)


def legacy_save(sides: WireSides, given: Given, **changes: Any) -> None:
    """O-01L then O-04L as the old SDK's Ontology.save did: the record read, with the changes in place,
    sent in the key order of §5.9 (O-04L)."""
    resource = ("ontology", given["ontology"])
    read = legacy_v1_call(sides.sdk, "ontology", "GET", uid=given["ontology"], resource=resource)
    record = {
        "ontology_hash": given["ontology"],
        "title": read["title"],
        "description": read["description"],
        "created_at": read["created_at"],
        "last_edited_at": read["last_edited_at"],
        "user_role": read["user_role"],
        "editor": read["editor"],
    }
    legacy_v1_call(sides.sdk, "ontology", "PUT", uid=given["ontology"], payload=record | changes, resource=resource)


def add_legacy_object(given: Given) -> None:
    with drawn_feature_hashes() as drawn:
        given["client"].add_object("Car", ObjectShape.BOUNDING_BOX)
    given["drawn"] = drawn


def add_legacy_classification(given: Given, kind: ClassificationType, options: list[str] | None) -> None:
    with drawn_feature_hashes() as drawn:
        given["client"].add_classification("Weather", kind, True, options)
    given["drawn"], given["options"] = drawn, options


def legacy_classification(given: Given, kind: str) -> dict[str, Any]:
    """What LegacyOntology.add_classification builds for an empty editor, with the hashes the SDK drew
    (the classification's, the attribute's, then one per option)."""
    classification_hash, attribute_hash, *option_hashes = given["drawn"]
    options = given["options"]
    return {
        "id": "1",
        "featureNodeHash": classification_hash,
        "attributes": [
            {
                "id": "1.1",
                "name": "Weather",
                "type": kind,
                "required": True,
                "featureNodeHash": attribute_hash,
                "options": None
                if options is None
                else [
                    {
                        "id": f"1.1.{number}",
                        "label": label,
                        "value": LEGACY_OPTION_VALUES[label],
                        "featureNodeHash": feature,
                    }
                    for number, (label, feature) in enumerate(zip(options, option_hashes, strict=True), start=1)
                ],
            }
        ],
    }


# The option values LegacyOntology derives from the labels the radio case passes (`_` for spaces, case kept).
LEGACY_OPTION_VALUES = {"Sunny": "Sunny", "Light rain": "Light_rain"}


def with_changed_ontology(sides: WireSides) -> Given:
    """An SDK Ontology with a new title, description and object, not saved yet."""
    ontology = sides.sdk.get_ontology(with_ontology(sides)["ontology"])
    ontology.title = sides.unique("renamed")
    ontology.description = AWKWARD_TEXT
    ontology.structure.add_object("Truck", Shape.POLYGON)
    return {"ontology": ontology}


def with_listed_project(sides: WireSides) -> Given:
    """A project as list_projects returns it: an SDK Project whose ontology is not fetched yet."""
    (project,) = sides.sdk.list_projects(title_eq=with_project(sides)["title"])
    return {"project": project}


# ---- projects ---------------------------------------------------------------------------------


PROJECT_CASES = [
    WireCase(
        name="CreateProject with datasets and an ontology",
        rpc="ProjectService.CreateProject",
        proves=("U-01",),
        setup=lambda sides: {
            "title": sides.unique("project"),
            "dataset": with_dataset(sides)["dataset"],
            "ontology": with_ontology(sides)["ontology"],
        },
        sdk=lambda sides, given: sides.sdk.create_project(
            given["title"], [given["dataset"]], "street scenes", ontology_hash=given["ontology"]
        ),
        request=lambda given: projects_pb2.CreateProjectRequest(
            title=given["title"],
            description="street scenes",
            dataset_hashes=[given["dataset"]],
            ontology_hash=given["ontology"],
        ),
    ),
    WireCase(
        name="CreateProject with the SDK's defaults",
        rpc="ProjectService.CreateProject",
        proves=("U-01",),
        setup=titled,
        sdk=lambda sides, given: sides.sdk.create_project(given["title"], []),
        request=lambda given: projects_pb2.CreateProjectRequest(title=given["title"]),
    ),
    WireCase(
        name="CreateProject with an awkward title and description",
        rpc="ProjectService.CreateProject",
        proves=("U-01",),
        sdk=lambda sides, given: sides.sdk.create_project(AWKWARD_TEXT, [], AWKWARD_TEXT),
        request=lambda given: projects_pb2.CreateProjectRequest(title=AWKWARD_TEXT, description=AWKWARD_TEXT),
    ),
    WireCase(
        # Project.get_project() sends include_labels_metadata=true; the RPC defaults to false. GetProject
        # then reads the fields a listing has (v2), as the SDK's get_project_v2() does.
        name="GetProject as Project.get_project() and get_project_v2()",
        rpc="ProjectService.GetProject",
        proves=("P-01",),
        setup=lambda sides: {"project": sides.sdk.get_project(with_project(sides)["project"])},
        sdk=lambda sides, given: (given["project"].get_project(), given["project"]._client.get_project_v2()),
        request=lambda given: projects_pb2.GetProjectRequest(
            project_hash=given["project"].project_hash, include_labels_metadata=True
        ),
    ),
    WireCase(
        name="ListProjects by exact title",
        rpc="ProjectService.ListProjects",
        proves=("U-02",),
        setup=with_project,
        sdk=lambda sides, given: list(sides.sdk.list_projects(title_eq=given["title"])),
        request=lambda given: projects_pb2.ListProjectsRequest(title_eq=given["title"]),
    ),
    WireCase(
        name="ListProjects by title pattern and description, with organisation access",
        rpc="ProjectService.ListProjects",
        proves=("U-02",),
        setup=with_project,
        sdk=lambda sides, given: list(
            sides.sdk.list_projects(title_like=f"%{given['title'][5:]}", desc_eq="", include_org_access=True)
        ),
        request=lambda given: projects_pb2.ListProjectsRequest(
            title_like=f"%{given['title'][5:]}", desc_eq="", include_org_access=True
        ),
    ),
    WireCase(
        name="ListProjects by awkward patterns, tags and two moments",
        rpc="ProjectService.ListProjects",
        proves=("U-02",),
        sdk=lambda sides, given: list(
            sides.sdk.list_projects(
                title_like=AWKWARD_TEXT,
                desc_like=AWKWARD_TEXT,
                created_after=LONG_AGO,
                edited_before=FAR_AHEAD,
                tags_anyof=["street scenes", AWKWARD_TEXT],
            )
        ),
        request=lambda given: projects_pb2.ListProjectsRequest(
            title_like=AWKWARD_TEXT,
            desc_like=AWKWARD_TEXT,
            created_after=timestamp(LONG_AGO),
            edited_before=timestamp(FAR_AHEAD),
            tags_anyof=["street scenes", AWKWARD_TEXT],
        ),
    ),
    WireCase(
        name="CreateProjectApiKey as the legacy create_project_api_key",
        rpc="ProjectService.CreateProjectApiKey",
        proves=("K-01",),
        setup=with_project,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "projectapikey",
            "POST",
            uid=given["project"],
            payload={"title": "labeller", "scopes": ["label.read", "label.write"]},
        ),
        request=lambda given: projects_pb2.CreateProjectApiKeyRequest(
            project_hash=given["project"], title="labeller", scopes=["label.read", "label.write"]
        ),
    ),
    WireCase(
        name="CreateProject for benchmark QA with source projects",
        rpc="ProjectService.CreateProject",
        proves=("U-01",),
        setup=lambda sides: {"title": sides.unique("benchmark"), "source": with_project(sides)["project"]},
        sdk=lambda sides, given: sides.sdk.create_project(
            given["title"], [], workflow_settings=BenchmarkQaWorkflowSettings(source_projects=[given["source"]])
        ),
        request=lambda given: projects_pb2.CreateProjectRequest(
            title=given["title"],
            workflow_type=projects_pb2.QA_WORKFLOW_TYPE_BENCHMARK,
            source_projects=[given["source"]],
        ),
    ),
    WireCase(
        # The gateway slices Encord's page itself: page_size never reaches the wire.
        name="ListProjects with a page size sends what list_projects sends",
        rpc="ProjectService.ListProjects",
        proves=("U-02",),
        setup=with_project,
        sdk=lambda sides, given: list(sides.sdk.list_projects(title_eq=given["title"])),
        request=lambda given: projects_pb2.ListProjectsRequest(title_eq=given["title"], page_size=2),
    ),
    WireCase(
        name="StreamProjects as list_projects over two of Encord's pages",
        rpc="ProjectService.StreamProjects",
        proves=("U-02",),
        setup=with_many_projects,
        sdk=listed_projects,
        request=lambda given: projects_pb2.ListProjectsRequest(title_like=given["pattern"]),
    ),
    WireCase(
        name="ListProjectsWithRoles as get_projects by exact title",
        rpc="ProjectService.ListProjectsWithRoles",
        proves=("U-03",),
        setup=with_project,
        sdk=lambda sides, given: sides.sdk.get_projects(title_eq=given["title"]),
        request=lambda given: projects_pb2.ListProjectsWithRolesRequest(
            filter=common_pb2.LegacyListingFilter(title_eq=given["title"])
        ),
    ),
    WireCase(
        name="ListProjectsWithRoles as get_projects by awkward patterns between four moments",
        rpc="ProjectService.ListProjectsWithRoles",
        proves=("U-03",),
        sdk=lambda sides, given: sides.sdk.get_projects(
            title_like=AWKWARD_TEXT,
            desc_eq=AWKWARD_TEXT,
            desc_like=AWKWARD_TEXT,
            created_before=FAR_AHEAD,
            created_after=LONG_AGO,
            edited_before=FAR_AHEAD,
            edited_after=LONG_AGO,
        ),
        request=lambda given: projects_pb2.ListProjectsWithRolesRequest(
            filter=common_pb2.LegacyListingFilter(
                title_like=AWKWARD_TEXT,
                desc_eq=AWKWARD_TEXT,
                desc_like=AWKWARD_TEXT,
                created_before=timestamp(FAR_AHEAD),
                created_after=timestamp(LONG_AGO),
                edited_before=timestamp(FAR_AHEAD),
                edited_after=timestamp(LONG_AGO),
            )
        ),
    ),
    WireCase(
        # get_project fetches eagerly: the project (v2), then its ontology.
        name="GetProjectDetails as get_project",
        rpc="ProjectService.GetProjectDetails",
        proves=("U-04",),
        setup=with_project,
        sdk=lambda sides, given: sides.sdk.get_project(given["project"]),
        request=lambda given: projects_pb2.GetProjectDetailsRequest(project_hash=given["project"]),
    ),
    WireCase(
        # Project.add_object would refetch the ontology afterwards (a third call, the caller's business).
        name="AddProjectOntologyObject as the legacy add_object on a fresh project",
        rpc="ProjectService.AddProjectOntologyObject",
        proves=("P-13",),
        setup=with_project_client,
        restore=restore_editor,
        sdk=lambda sides, given: add_legacy_object(given),
        request=lambda given: projects_pb2.AddProjectOntologyObjectRequest(
            project_hash=given["project"],
            object=projects_pb2.LegacyOntologyObject(
                # What LegacyOntology.add_object computes for an empty editor: id 1, the first colour.
                id="1",
                color=legacy_ontology.Ontology.COLORS[0],
                name="Car",
                shape=ObjectShape.BOUNDING_BOX.value,
                feature_node_hash=given["drawn"][0],
            ),
        ),
    ),
    WireCase(
        name="AddProjectOntologyClassification as the legacy add_classification (radio) on a fresh project",
        rpc="ProjectService.AddProjectOntologyClassification",
        proves=("P-13",),
        setup=with_project_client,
        restore=restore_editor,
        sdk=lambda sides, given: add_legacy_classification(given, ClassificationType.RADIO, ["Sunny", "Light rain"]),
        request=lambda given: projects_pb2.AddProjectOntologyClassificationRequest(
            project_hash=given["project"], classification=struct(legacy_classification(given, "radio"))
        ),
        free_form=True,
    ),
    WireCase(
        name="AddProjectOntologyClassification as the legacy add_classification (text) on a fresh project",
        rpc="ProjectService.AddProjectOntologyClassification",
        proves=("P-13",),
        setup=with_project_client,
        restore=restore_editor,
        sdk=lambda sides, given: add_legacy_classification(given, ClassificationType.TEXT, None),
        request=lambda given: projects_pb2.AddProjectOntologyClassificationRequest(
            project_hash=given["project"], classification=struct(legacy_classification(given, "text"))
        ),
        free_form=True,
    ),
    WireCase(
        name="SyncProjectApiKeys as the legacy get_project_api_keys",
        rpc="ProjectService.SyncProjectApiKeys",
        proves=("K-02",),
        setup=with_project_key_in_encord,
        sdk=lambda sides, given: legacy_v1_call(sides.sdk, "projectapikey", "GET", uid=given["project"]),
        request=lambda given: projects_pb2.SyncProjectApiKeysRequest(project_hash=given["project"]),
    ),
    WireCase(
        name="GetOrCreateProjectMasterApiKey as the legacy get_or_create_project_api_key",
        rpc="ProjectService.GetOrCreateProjectMasterApiKey",
        proves=("K-03",),
        setup=with_project,
        sdk=lambda sides, given: legacy_v1_call(sides.sdk, "projectapikey", "PUT", uid=given["project"], payload={}),
        request=lambda given: projects_pb2.GetOrCreateProjectMasterApiKeyRequest(project_hash=given["project"]),
    ),
    WireCase(
        name="DescribeProjectApiKey as a project API-key client's start",
        rpc="ProjectService.DescribeProjectApiKey",
        proves=("K-07",),
        setup=with_project_api_key,
        sdk=lambda sides, given: describe_api_key(sides, given, "project"),
        request=lambda given: projects_pb2.DescribeProjectApiKeyRequest(project_hash=given["project"]),
    ),
]


# ---- datasets ---------------------------------------------------------------------------------


DATASET_CASES = [
    WireCase(
        name="SyncDatasetApiKeys as the legacy get_dataset_api_keys",
        rpc="DatasetService.SyncDatasetApiKeys",
        proves=("K-05",),
        setup=with_dataset_key_in_encord,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "datasetapikey", "GET", payload={"dataset_hash": given["dataset"]}
        ),
        request=lambda given: datasets_pb2.SyncDatasetApiKeysRequest(dataset_hash=given["dataset"]),
    ),
    WireCase(
        name="GetOrCreateDatasetMasterApiKey as the legacy get_or_create_dataset_api_key",
        rpc="DatasetService.GetOrCreateDatasetMasterApiKey",
        proves=("K-06",),
        setup=with_dataset,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "datasetapikey", "PUT", payload={"dataset_hash": given["dataset"]}
        ),
        request=lambda given: datasets_pb2.GetOrCreateDatasetMasterApiKeyRequest(dataset_hash=given["dataset"]),
    ),
    WireCase(
        name="CreateDataset in Encord storage",
        rpc="DatasetService.CreateDataset",
        proves=("U-05",),
        setup=titled,
        sdk=lambda sides, given: sides.sdk.create_dataset(given["title"], StorageLocation.CORD_STORAGE, "dashcam"),
        request=lambda given: datasets_pb2.CreateDatasetRequest(
            title=given["title"],
            description="dashcam",
            storage_location=common_pb2.STORAGE_LOCATION_CORD_STORAGE,
        ),
    ),
    WireCase(
        name="CreateDataset without a description or a backing folder",
        rpc="DatasetService.CreateDataset",
        proves=("U-05",),
        setup=titled,
        sdk=lambda sides, given: sides.sdk.create_dataset(
            given["title"], StorageLocation.AWS, create_backing_folder=False
        ),
        request=lambda given: datasets_pb2.CreateDatasetRequest(
            title=given["title"], storage_location=common_pb2.STORAGE_LOCATION_AWS_S3, create_backing_folder=False
        ),
    ),
    WireCase(
        name="CreateDataset with an awkward title and description",
        rpc="DatasetService.CreateDataset",
        proves=("U-05",),
        sdk=lambda sides, given: sides.sdk.create_dataset(AWKWARD_TEXT, StorageLocation.CORD_STORAGE, AWKWARD_TEXT),
        request=lambda given: datasets_pb2.CreateDatasetRequest(title=AWKWARD_TEXT, description=AWKWARD_TEXT),
    ),
    WireCase(
        name="GetDataset as get_dataset (rows, no client metadata)",
        rpc="DatasetService.GetDataset",
        proves=("D-01",),
        setup=with_dataset,
        sdk=lambda sides, given: sides.sdk.get_dataset(given["dataset"]),
        request=lambda given: datasets_pb2.GetDatasetRequest(dataset_hash=given["dataset"]),
    ),
    WireCase(
        name="GetDataset as get_dataset with client metadata and without rows",
        rpc="DatasetService.GetDataset",
        proves=("D-01",),
        setup=with_dataset,
        sdk=lambda sides, given: sides.sdk.get_dataset(
            given["dataset"], DatasetAccessSettings(fetch_client_metadata=True), include_data_rows=False
        ),
        request=lambda given: datasets_pb2.GetDatasetRequest(
            dataset_hash=given["dataset"],
            dataset_access_settings=datasets_pb2.DatasetAccessSettings(fetch_client_metadata=True, fetch_rows=False),
        ),
    ),
    WireCase(
        name="ListDatasets by exact title",
        rpc="DatasetService.ListDatasets",
        proves=("U-06",),
        setup=with_dataset,
        sdk=lambda sides, given: sides.sdk.get_datasets(title_eq=given["title"]),
        request=lambda given: datasets_pb2.ListDatasetsRequest(title_eq=given["title"]),
    ),
    WireCase(
        name="ListDatasets by title pattern and description",
        rpc="DatasetService.ListDatasets",
        proves=("U-06",),
        setup=with_dataset,
        sdk=lambda sides, given: sides.sdk.get_datasets(title_like=f"%{given['title'][5:]}", desc_eq="dashcam footage"),
        request=lambda given: datasets_pb2.ListDatasetsRequest(
            title_like=f"%{given['title'][5:]}", desc_eq="dashcam footage"
        ),
    ),
    WireCase(
        name="CreateDatasetApiKey as the legacy create_dataset_api_key",
        rpc="DatasetService.CreateDatasetApiKey",
        proves=("K-04",),
        setup=with_dataset,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "datasetapikey",
            "POST",
            payload={"dataset_hash": given["dataset"], "title": "reader", "scopes": ["dataset.read"]},
        ),
        request=lambda given: datasets_pb2.CreateDatasetApiKeyRequest(
            dataset_hash=given["dataset"], title="reader", scopes=["dataset.read"]
        ),
    ),
    WireCase(
        name="CreateDataset as create_private_dataset (legacyCall)",
        rpc="DatasetService.CreateDataset",
        proves=("U-05",),
        setup=titled,
        sdk=lambda sides, given: sides.sdk.create_private_dataset(given["title"], StorageLocation.AWS, "scans"),
        request=lambda given: datasets_pb2.CreateDatasetRequest(
            title=given["title"],
            description="scans",
            storage_location=common_pb2.STORAGE_LOCATION_AWS_S3,
            legacy_call=True,
        ),
    ),
    WireCase(
        # The SDK's DTO writes these moments with Z (the project and ontology listings use +00:00).
        name="ListDatasets by awkward patterns between four moments, with organisation access",
        rpc="DatasetService.ListDatasets",
        proves=("U-06",),
        sdk=lambda sides, given: sides.sdk.get_datasets(
            title_like=AWKWARD_TEXT,
            desc_eq=AWKWARD_TEXT,
            desc_like=AWKWARD_TEXT,
            created_before=FAR_AHEAD,
            created_after=LONG_AGO,
            edited_before=FAR_AHEAD,
            edited_after=LONG_AGO,
            include_org_access=True,
        ),
        request=lambda given: datasets_pb2.ListDatasetsRequest(
            title_like=AWKWARD_TEXT,
            desc_eq=AWKWARD_TEXT,
            desc_like=AWKWARD_TEXT,
            created_before=timestamp(FAR_AHEAD),
            created_after=timestamp(LONG_AGO),
            edited_before=timestamp(FAR_AHEAD),
            edited_after=timestamp(LONG_AGO),
            include_org_access=True,
        ),
    ),
    WireCase(
        # Encord answers every dataset at once; the gateway pages that answer itself.
        name="ListDatasets with a page size sends what get_datasets sends",
        rpc="DatasetService.ListDatasets",
        proves=("U-06",),
        setup=with_dataset,
        sdk=lambda sides, given: sides.sdk.get_datasets(title_eq=given["title"]),
        request=lambda given: datasets_pb2.ListDatasetsRequest(title_eq=given["title"], page_size=1),
    ),
    WireCase(
        name="CreateDatasetLegacy in AWS with a description and no backing folder",
        rpc="DatasetService.CreateDatasetLegacy",
        proves=("U-05L",),
        setup=titled,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "dataset",
            "POST",
            payload={"title": given["title"], "type": 1, "description": "scans", "create_backing_folder": False},
        ),
        request=lambda given: datasets_pb2.CreateDatasetLegacyRequest(
            title=given["title"],
            storage_location=common_pb2.STORAGE_LOCATION_AWS_S3,
            description="scans",
            create_backing_folder=False,
        ),
    ),
    WireCase(
        name="CreateDatasetLegacy with only a title (Encord storage)",
        rpc="DatasetService.CreateDatasetLegacy",
        proves=("U-05L",),
        setup=titled,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "dataset", "POST", payload={"title": given["title"], "type": 0}
        ),
        request=lambda given: datasets_pb2.CreateDatasetLegacyRequest(title=given["title"]),
    ),
    WireCase(
        name="ListDatasetsWithRoles by title pattern",
        rpc="DatasetService.ListDatasetsWithRoles",
        proves=("U-06L",),
        setup=with_dataset,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "datasetwithuserrole",
            "GET",
            payload={"filter": {"title_like": f"%{given['title'][5:]}"}, "enable_storage_api": True},
        ),
        request=lambda given: datasets_pb2.ListDatasetsWithRolesRequest(
            filter=common_pb2.LegacyListingFilter(title_like=f"%{given['title'][5:]}")
        ),
    ),
    WireCase(
        name="ListDatasetsWithRoles by awkward text between two moments",
        rpc="DatasetService.ListDatasetsWithRoles",
        proves=("U-06L",),
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "datasetwithuserrole",
            "GET",
            payload={
                "filter": {
                    "title_eq": AWKWARD_TEXT,
                    "desc_like": AWKWARD_TEXT,
                    "created_after": LONG_AGO.isoformat(),
                    "edited_before": FAR_AHEAD.isoformat(),
                },
                "enable_storage_api": True,
            },
        ),
        request=lambda given: datasets_pb2.ListDatasetsWithRolesRequest(
            filter=common_pb2.LegacyListingFilter(
                title_eq=AWKWARD_TEXT,
                desc_like=AWKWARD_TEXT,
                created_after=timestamp(LONG_AGO),
                edited_before=timestamp(FAR_AHEAD),
            )
        ),
    ),
    WireCase(
        name="DescribeDatasetApiKey as a dataset API-key client's start",
        rpc="DatasetService.DescribeDatasetApiKey",
        proves=("K-07",),
        setup=with_dataset_api_key,
        sdk=lambda sides, given: describe_api_key(sides, given, "dataset"),
        request=lambda given: datasets_pb2.DescribeDatasetApiKeyRequest(dataset_hash=given["dataset"]),
    ),
]


# ---- ontologies -------------------------------------------------------------------------------


ONTOLOGY_CASES = [
    WireCase(
        name="CreateOntology with the SDK's empty structure",
        rpc="OntologyService.CreateOntology",
        proves=("O-03",),
        setup=titled,
        sdk=lambda sides, given: sides.sdk.create_ontology(given["title"]),
        request=lambda given: ontologies_pb2.CreateOntologyRequest(title=given["title"]),
    ),
    WireCase(
        name="GetOntology as get_ontology",
        rpc="OntologyService.GetOntology",
        proves=("O-01",),
        setup=with_ontology,
        sdk=lambda sides, given: sides.sdk.get_ontology(given["ontology"]),
        request=lambda given: ontologies_pb2.GetOntologyRequest(ontology_hash=given["ontology"]),
    ),
    WireCase(
        # A project from list_projects fetches its ontology lazily, on first use.
        name="GetOntology as a listed project's ontology_structure",
        rpc="OntologyService.GetOntology",
        proves=("P-03",),
        setup=with_listed_project,
        sdk=lambda sides, given: given["project"].ontology_structure,
        request=lambda given: ontologies_pb2.GetOntologyRequest(ontology_hash=given["project"].ontology_hash),
    ),
    WireCase(
        name="ListOntologies by exact title",
        rpc="OntologyService.ListOntologies",
        proves=("O-02",),
        setup=with_ontology,
        sdk=lambda sides, given: sides.sdk.get_ontologies(title_eq=given["title"]),
        request=lambda given: ontologies_pb2.ListOntologiesRequest(title_eq=given["title"]),
    ),
    WireCase(
        name="ListOntologies by awkward patterns between two moments, with organisation access",
        rpc="OntologyService.ListOntologies",
        proves=("O-02",),
        sdk=lambda sides, given: sides.sdk.get_ontologies(
            title_like=AWKWARD_TEXT,
            desc_eq=AWKWARD_TEXT,
            created_after=LONG_AGO,
            edited_before=FAR_AHEAD,
            include_org_access=True,
        ),
        request=lambda given: ontologies_pb2.ListOntologiesRequest(
            title_like=AWKWARD_TEXT,
            desc_eq=AWKWARD_TEXT,
            created_after=timestamp(LONG_AGO),
            edited_before=timestamp(FAR_AHEAD),
            include_org_access=True,
        ),
    ),
    WireCase(
        name="CreateOntology with an awkward title and description",
        rpc="OntologyService.CreateOntology",
        proves=("O-03",),
        sdk=lambda sides, given: sides.sdk.create_ontology(AWKWARD_TEXT, AWKWARD_TEXT),
        request=lambda given: ontologies_pb2.CreateOntologyRequest(title=AWKWARD_TEXT, description=AWKWARD_TEXT),
    ),
    WireCase(
        name="CreateOntology with a structure",
        rpc="OntologyService.CreateOntology",
        proves=("O-03",),
        setup=lambda sides: {"title": sides.unique("ontology"), "structure": car_and_weather()},
        sdk=lambda sides, given: sides.sdk.create_ontology(given["title"], "vehicles", given["structure"]),
        request=lambda given: ontologies_pb2.CreateOntologyRequest(
            title=given["title"], description="vehicles", structure=struct(given["structure"].to_dict())
        ),
        free_form=True,
    ),
    WireCase(
        name="SaveOntology as Ontology.save() after a new title, description and object",
        rpc="OntologyService.SaveOntology",
        proves=("O-04",),
        setup=with_changed_ontology,
        sdk=lambda sides, given: given["ontology"].save(),
        request=lambda given: ontologies_pb2.SaveOntologyRequest(
            ontology_hash=given["ontology"].ontology_hash,
            title=given["ontology"].title,
            description=AWKWARD_TEXT,
            structure=struct(given["ontology"].structure.to_dict()),
        ),
        free_form=True,
    ),
    WireCase(
        name="GetOntologyLegacy as the old ontology client's read",
        rpc="OntologyService.GetOntologyLegacy",
        proves=("O-01L",),
        setup=with_ontology,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "ontology", "GET", uid=given["ontology"], resource=("ontology", given["ontology"])
        ),
        request=lambda given: ontologies_pb2.GetOntologyRequest(ontology_hash=given["ontology"]),
    ),
    WireCase(
        name="ListOntologiesWithRoles by exact title",
        rpc="OntologyService.ListOntologiesWithRoles",
        proves=("O-02L",),
        setup=with_ontology,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk, "ontologywithuserrole", "GET", payload={"filter": {"title_eq": given["title"]}}
        ),
        request=lambda given: ontologies_pb2.ListOntologiesWithRolesRequest(
            filter=common_pb2.LegacyListingFilter(title_eq=given["title"])
        ),
    ),
    WireCase(
        name="ListOntologiesWithRoles unfiltered",
        rpc="OntologyService.ListOntologiesWithRoles",
        proves=("O-02L",),
        sdk=lambda sides, given: legacy_v1_call(sides.sdk, "ontologywithuserrole", "GET", payload={"filter": {}}),
        request=lambda given: ontologies_pb2.ListOntologiesWithRolesRequest(),
    ),
    WireCase(
        name="CreateOntologyLegacy with only a title",
        rpc="OntologyService.CreateOntologyLegacy",
        proves=("O-03L",),
        setup=titled,
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "ontology",
            "POST",
            payload={"title": given["title"], "description": "", "editor": {"objects": [], "classifications": []}},
        ),
        request=lambda given: ontologies_pb2.CreateOntologyRequest(title=given["title"]),
    ),
    WireCase(
        name="CreateOntologyLegacy with an awkward description and a structure",
        rpc="OntologyService.CreateOntologyLegacy",
        proves=("O-03L",),
        setup=lambda sides: {"title": sides.unique("ontology"), "structure": car_and_weather().to_dict()},
        sdk=lambda sides, given: legacy_v1_call(
            sides.sdk,
            "ontology",
            "POST",
            payload={"title": given["title"], "description": AWKWARD_TEXT, "editor": given["structure"]},
        ),
        request=lambda given: ontologies_pb2.CreateOntologyRequest(
            title=given["title"], description=AWKWARD_TEXT, structure=struct(given["structure"])
        ),
        free_form=True,
    ),
    WireCase(
        name="SaveOntologyLegacy of a new title keeps what was read",
        rpc="OntologyService.SaveOntologyLegacy",
        proves=("O-01L", "O-04L"),
        setup=with_legacy_ontology_changes,
        sdk=lambda sides, given: legacy_save(sides, given, title=given["new_title"]),
        masks=LEGACY_SAVE_STAMP,
        request=lambda given: ontologies_pb2.SaveOntologyRequest(
            ontology_hash=given["ontology"], title=given["new_title"]
        ),
    ),
    WireCase(
        name="SaveOntologyLegacy of a new description and structure",
        rpc="OntologyService.SaveOntologyLegacy",
        proves=("O-01L", "O-04L"),
        setup=with_legacy_ontology_changes,
        sdk=lambda sides, given: legacy_save(sides, given, description=AWKWARD_TEXT, editor=given["structure"]),
        masks=LEGACY_SAVE_STAMP,
        request=lambda given: ontologies_pb2.SaveOntologyRequest(
            ontology_hash=given["ontology"], description=AWKWARD_TEXT, structure=struct(given["structure"])
        ),
        free_form=True,
    ),
]

CASES = [
    *PROJECT_CASES,
    *DATASET_CASES,
    *ONTOLOGY_CASES,
    *cases_organisation.CASES,
    *__import__("cases_storage").CASES,
    *__import__("cases_jobs").CASES,
    *__import__("cases_labels").CASES,
    *__import__("cases_models").CASES,
    *__import__("cases_folder_groups").CASES,
    *__import__("cases_coco").CASES,
    *__import__("cases_uploads").CASES,
]
