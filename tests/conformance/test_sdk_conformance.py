"""The official Encord SDK (0.1.211) driving the sandbox exactly as a user would drive Encord."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from encord import EncordUserClient
from encord.exceptions import InvalidArgumentsError, ResourceNotFoundError, SshKeyNotFound
from encord.objects import OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.orm.dataset import StorageLocation
from encord.utilities.project_user import ProjectUserRole
from encord_gateway.upstream.signing import private_key_to_openssh

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

ClientFactory = Callable[[], EncordUserClient]


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


@pytest.fixture
def other_client(sandbox: Sandbox, make_user: Callable[[], SandboxUser]) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)


def car_and_weather() -> OntologyStructure:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


# ---- projects ----------------------------------------------------------------------------------


def test_project_created_with_dataset_and_ontology_reads_back_through_the_sdk(
    client: EncordUserClient,
) -> None:
    dataset = client.create_dataset("Street scenes", StorageLocation.CORD_STORAGE, "dashcam")
    ontology = client.create_ontology("Traffic", "cars and weather", car_and_weather())

    project_hash = client.create_project("Traffic review", [dataset.dataset_hash], "review it", ontology.ontology_hash)
    project = client.get_project(project_hash)

    assert (project.project_hash, project.title, project.description) == (
        project_hash,
        "Traffic review",
        "review it",
    )
    assert project.ontology_hash == ontology.ontology_hash
    assert [o.name for o in project.ontology_structure.objects] == ["Car"]
    assert project.ontology_structure.objects[0].shape == Shape.BOUNDING_BOX
    radio = project.ontology_structure.classifications[0].attributes[0]
    assert radio.name == "Weather" and [o.label for o in radio.options] == ["Sunny", "Rainy"]
    assert [(str(d.dataset_hash), d.title) for d in project.list_datasets()] == [
        (dataset.dataset_hash, "Street scenes")
    ]


def test_project_without_an_ontology_gets_an_empty_one_of_its_own(client: EncordUserClient) -> None:
    project = client.get_project(client.create_project("Bare", []))

    assert project.ontology_hash
    assert project.ontology_structure.objects == [] and project.ontology_structure.classifications == []
    assert client.get_ontology(project.ontology_hash).ontology_hash == project.ontology_hash
    assert project.list_datasets() == []


def test_legacy_project_record_carries_ontology_datasets_and_label_rows(client: EncordUserClient) -> None:
    dataset = client.create_dataset("Frames", StorageLocation.CORD_STORAGE)
    ontology = client.create_ontology("Objects", structure=car_and_weather())
    project = client.get_project(client.create_project("Legacy", [dataset.dataset_hash], "", ontology.ontology_hash))

    record = project.get_project()  # v1 `project` GET (P-01)

    assert record.project_hash == project.project_hash and record.title == "Legacy"
    assert isinstance(record.created_at, datetime)
    assert record.ontology_hash == ontology.ontology_hash
    assert [o["name"] for o in record.editor_ontology["objects"]] == ["Car"]
    assert [(d["dataset_hash"], d["dataset_type"]) for d in record.datasets] == [(dataset.dataset_hash, "CORD_STORAGE")]
    assert record.label_rows == []


def test_list_projects_applies_title_and_creation_filters(client: EncordUserClient) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for title in ("Cats 1", "Cats 22", "Dogs"):
        client.create_project(title, [])

    assert {p.title for p in client.list_projects()} == {"Cats 1", "Cats 22", "Dogs"}
    assert {p.title for p in client.list_projects(title_like="Cats%")} == {"Cats 1", "Cats 22"}
    assert {p.title for p in client.list_projects(title_like="Cats _")} == {"Cats 1"}
    assert [p.title for p in client.list_projects(title_eq="Dogs")] == ["Dogs"]
    assert len(list(client.list_projects(created_after=before))) == 3
    assert list(client.list_projects(created_after=datetime.now(UTC) + timedelta(hours=1))) == []


def test_listed_project_loads_its_ontology_lazily(client: EncordUserClient) -> None:
    ontology = client.create_ontology("Lazy", structure=car_and_weather())
    client.create_project("Lazy project", [], ontology_hash=ontology.ontology_hash)

    (listed,) = client.list_projects(title_eq="Lazy project")

    assert [o.name for o in listed.ontology_structure.objects] == ["Car"]


def test_deprecated_get_projects_lists_with_roles(client: EncordUserClient) -> None:
    client.create_project("Old style", [])

    with pytest.warns(DeprecationWarning):
        rows = client.get_projects(title_eq="Old style")

    assert [(r["project"]["title"], int(r["user_role"])) for r in rows] == [("Old style", 0)]


def test_someone_elses_project_is_not_found(client: EncordUserClient, other_client: EncordUserClient) -> None:
    project_hash = client.create_project("Mine", [])

    with pytest.raises(ResourceNotFoundError):
        other_client.get_project(project_hash)
    assert list(other_client.list_projects()) == []


def test_empty_project_title_is_invalid(client: EncordUserClient) -> None:
    with pytest.raises(InvalidArgumentsError):
        client.create_project("", [])


# ---- datasets ----------------------------------------------------------------------------------


def test_dataset_created_through_the_sdk_reads_back_with_and_without_rows(client: EncordUserClient) -> None:
    created = client.create_dataset("Aerial", StorageLocation.CORD_STORAGE, "drone shots")
    no_folder = client.create_dataset("Plain", StorageLocation.CORD_STORAGE, create_backing_folder=False)

    dataset = client.get_dataset(created.dataset_hash)
    light = client.get_dataset(created.dataset_hash, include_data_rows=False)

    assert created.backing_folder_uuid is not None and no_folder.backing_folder_uuid is None
    assert (dataset.dataset_hash, dataset.title, dataset.description) == (
        created.dataset_hash,
        "Aerial",
        "drone shots",
    )
    assert dataset.storage_location == StorageLocation.CORD_STORAGE
    assert dataset.backing_folder_uuid == created.backing_folder_uuid
    assert dataset.data_rows == []
    assert light.title == "Aerial"


def test_get_datasets_filters_and_reports_roles(client: EncordUserClient) -> None:
    client.create_dataset("Birds", StorageLocation.CORD_STORAGE, "feathers")
    client.create_dataset("Bees", StorageLocation.CORD_STORAGE, "stripes")

    everything = client.get_datasets()
    birds = client.get_datasets(title_eq="Birds")
    striped = client.get_datasets(desc_like="str%")

    assert {d["dataset"].title for d in everything} == {"Birds", "Bees"}
    assert [(d["dataset"].title, int(d["user_role"])) for d in birds] == [("Birds", 0)]
    assert [d["dataset"].title for d in striped] == ["Bees"]
    assert client.get_datasets(created_after=datetime.now(UTC) + timedelta(hours=1)) == []


def test_someone_elses_dataset_is_not_found(client: EncordUserClient, other_client: EncordUserClient) -> None:
    created = client.create_dataset("Secret", StorageLocation.CORD_STORAGE)

    with pytest.raises(ResourceNotFoundError):
        other_client.get_dataset(created.dataset_hash)


# ---- ontologies --------------------------------------------------------------------------------


def test_ontology_round_trips_its_structure(client: EncordUserClient) -> None:
    created = client.create_ontology("Road", "things on roads", car_and_weather())

    fetched = client.get_ontology(created.ontology_hash)

    assert (fetched.title, fetched.description) == ("Road", "things on roads")
    assert fetched.structure.to_dict() == created.structure.to_dict()
    assert fetched.structure.get_child_by_title("Car").feature_node_hash == (
        created.structure.get_child_by_title("Car").feature_node_hash
    )


def test_get_ontologies_filters_by_title(client: EncordUserClient) -> None:
    client.create_ontology("Fish", structure=car_and_weather())
    client.create_ontology("Fowl")

    listed = client.get_ontologies()
    fish = client.get_ontologies(title_like="Fi%")

    assert {row["ontology"].title for row in listed} == {"Fish", "Fowl"}
    assert [(row["ontology"].title, int(row["user_role"])) for row in fish] == [("Fish", 0)]


def test_ontology_save_persists_edits(client: EncordUserClient) -> None:
    ontology = client.create_ontology("Draft", structure=car_and_weather())

    ontology.title = "Final"
    ontology.structure.add_object("Person", Shape.POLYGON)
    ontology.save()  # v2 PUT (O-04)
    reread = client.get_ontology(ontology.ontology_hash)

    assert reread.title == "Final"
    assert [o.name for o in reread.structure.objects] == ["Car", "Person"]
    assert reread.last_edited_at >= reread.created_at


# ---- credentials -------------------------------------------------------------------------------


def test_unregistered_key_is_reported_as_ssh_key_not_found(sandbox: Sandbox) -> None:
    stranger = private_key_to_openssh(Ed25519PrivateKey.generate()).decode("ascii")
    client = EncordUserClient.create_with_ssh_private_key(stranger, domain=sandbox.url)

    with pytest.raises(SshKeyNotFound):
        client.create_project("Nope", [])


def test_bearer_token_client_sees_the_same_resources(sandbox: Sandbox, client: EncordUserClient) -> None:
    project_hash = client.create_project("Shared by token", [])
    bearer = EncordUserClient.create_with_bearer_token(client.get_bearer_token(), domain=sandbox.url)

    assert bearer.get_project(project_hash).title == "Shared by token"
    assert [p.project_hash for p in bearer.list_projects()] == [project_hash]


# ---- membership and attachments ----------------------------------------------------------------


def test_project_datasets_can_be_attached_and_detached(client: EncordUserClient) -> None:
    first = client.create_dataset("First", StorageLocation.CORD_STORAGE)
    second = client.create_dataset("Second", StorageLocation.CORD_STORAGE)
    project = client.get_project(client.create_project("Growing", [first.dataset_hash]))

    project.add_datasets([second.dataset_hash])  # v1 `projectdataset` POST (P-05)
    assert {d.title for d in project.list_datasets()} == {"First", "Second"}
    project.remove_datasets([first.dataset_hash])  # v1 `projectdataset` DELETE (P-06)
    assert [d.title for d in project.list_datasets()] == ["Second"]


def test_added_collaborator_can_open_the_project(
    sandbox: Sandbox, client: EncordUserClient, make_user: Callable[[], SandboxUser]
) -> None:
    ontology = client.create_ontology("Shared ontology", structure=car_and_weather())
    project = client.get_project(client.create_project("Team", [], ontology_hash=ontology.ontology_hash))
    colleague = make_user()

    added = project.add_users([colleague.email], ProjectUserRole.ANNOTATOR)  # v1 `projectusers` POST (P-07)
    opened = EncordUserClient.create_with_ssh_private_key(colleague.openssh, domain=sandbox.url).get_project(
        project.project_hash
    )

    assert [(u.user_email, u.user_role) for u in added] == [(colleague.email, ProjectUserRole.ANNOTATOR)]
    assert opened.title == "Team"
    assert [o.name for o in opened.ontology_structure.objects] == ["Car"]


# ---- data units -------------------------------------------------------------------------------


def test_seeded_data_units_read_back_as_the_sdks_data_rows(client: EncordUserClient, sandbox: Sandbox) -> None:
    dataset = client.create_dataset("Seeded", StorageLocation.CORD_STORAGE)
    seeded = sandbox.seed_data_units(
        dataset.dataset_hash,
        [
            {"title": "clip.mp4", "data_type": "VIDEO", "frames": 120, "client_metadata": {"camera": "front"}},
            {"title": "street", "data_type": "IMG_GROUP", "images": ["a.jpg", "b.jpg"]},
            {"title": "one.jpg", "data_type": "IMAGE"},
        ],
    )

    rows = client.get_dataset(dataset.dataset_hash).data_rows
    assert [(r.uid, r.title, r.data_type.value) for r in rows] == [  # the SDK spells data types lower-case
        (s["data_hash"], s["data_title"], s["data_type"].lower()) for s in seeded
    ]
    assert [r.title for r in rows] == ["clip.mp4", "street", "one.jpg"]
    assert rows[0].frames_per_second == 25.0 and rows[0].duration == 120 / 25.0
    assert [image.title for image in rows[1].images_data] == ["a.jpg", "b.jpg"]


def test_deleted_data_units_are_gone_from_the_dataset(client: EncordUserClient, sandbox: Sandbox) -> None:
    dataset_hash = client.create_dataset("Pruned", StorageLocation.CORD_STORAGE).dataset_hash
    keep, drop = sandbox.seed_data_units(
        dataset_hash, [{"title": "keep.jpg", "data_type": "IMAGE"}, {"title": "drop.jpg", "data_type": "IMAGE"}]
    )

    client.get_dataset(dataset_hash).delete_data([drop["data_hash"]])

    assert [r.uid for r in client.get_dataset(dataset_hash).data_rows] == [keep["data_hash"]]
