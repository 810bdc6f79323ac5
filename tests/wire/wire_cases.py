"""The wire-equality cases: per gateway operation, the SDK's call for it and the gateway request that must match.

To add an operation: append a WireCase naming its RPC and the catalogue IDs it proves, a setup that
makes the resources both sides act on, the SDK call (or, for rows the SDK dropped, a
`legacy_v1_call` with the documented payload) and the gateway's request message.

Known differences, left out until the gateway matches the SDK (each would fail here):
- CreateProject cannot send `workflow_type: "benchmark"` with `source_projects` (BenchmarkQaWorkflowSettings).
- CreateDataset always sends `legacyCall: false`; the deprecated `create_private_dataset` sends true.
- CreateOntology with a structure: the `editor` object's keys reach Encord in another order than the
  SDK's (a google.protobuf.Struct is a map and does not keep key order), so the body bytes differ.
- ListDatasets with a datetime filter: `get_datasets` sends `...Z`, the gateway `...+00:00`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from encord.objects import OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.orm.dataset import DatasetAccessSettings, StorageLocation
from encord_gateway._generated.encord.gateway.v1 import (
    common_pb2,
    datasets_pb2,
    ontologies_pb2,
    projects_pb2,
)
from google.protobuf import timestamp_pb2
from wire_harness import Given, WireCase, WireSides
from wire_legacy import legacy_v1_call

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
        # Project.get_project() sends include_labels_metadata=true; the RPC defaults to false.
        name="GetProject as Project.get_project()",
        rpc="ProjectService.GetProject",
        proves=("P-01",),
        setup=lambda sides: {"project": sides.sdk.get_project(with_project(sides)["project"])},
        sdk=lambda sides, given: given["project"].get_project(),
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
]


# ---- datasets ---------------------------------------------------------------------------------


DATASET_CASES = [
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
]

CASES = [*PROJECT_CASES, *DATASET_CASES, *ONTOLOGY_CASES, *__import__("cases_labels").CASES]
