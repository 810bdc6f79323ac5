"""The official Encord SDK (0.1.211) working with label rows in the sandbox as a user would."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import FeatureDoesNotExistError, ResourceExistsError, ResourceNotFoundError
from encord.http.querier import Querier
from encord.objects import Classification, LabelRowV2, Object, OntologyStructure, Shape
from encord.objects.attributes import RadioAttribute
from encord.objects.coordinates import BoundingBoxCoordinates, PointCoordinate, PolygonCoordinates
from encord.orm.dataset import StorageLocation
from encord.orm.label_row import LabelRow, LabelRowMetadata, LabelStatus
from encord.orm.project import BenchmarkQaWorkflowSettings
from encord.project import Project

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

BOX = BoundingBoxCoordinates(height=0.25, width=0.5, top_left_x=0.125, top_left_y=0.375)
UNITS = [
    {"title": "street.jpg", "data_type": "IMAGE"},
    {"title": "drive.mp4", "data_type": "VIDEO", "frames": 20},
    {"title": "burst", "data_type": "IMG_GROUP", "images": ["b0.jpg", "b1.jpg", "b2.jpg"]},
]


@pytest.fixture
def client(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


def ontology() -> OntologyStructure:
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    structure.add_object("Road", Shape.POLYGON)
    weather = structure.add_classification().add_attribute(RadioAttribute, "Weather")
    weather.add_option("Sunny")
    weather.add_option("Rainy")
    return structure


@pytest.fixture
def project_factory(client: EncordUserClient, sandbox: Sandbox) -> Callable[..., Project]:
    """A project on one dataset of the given units (default: an image, a video and an image group)."""

    def make(units: list[dict[str, Any]] = UNITS, **options: Any) -> Project:
        dataset = client.create_dataset("labelled data", StorageLocation.CORD_STORAGE).dataset_hash
        sandbox.seed_data_units(dataset, units)
        structure = client.create_ontology("street objects", structure=ontology()).ontology_hash
        return client.get_project(client.create_project("labelling", [dataset], ontology_hash=structure, **options))

    return make


def car(row: LabelRowV2) -> Object:
    return row.ontology_structure.get_child_by_title("Car", type_=Object)


def weather(row: LabelRowV2) -> Classification:
    found = row.ontology_structure.classifications[0]
    assert isinstance(found, Classification)
    return found


def add_car(row: LabelRowV2, frames: Any = 0) -> str:
    instance = car(row).create_instance()
    instance.set_for_frames(BOX, frames=frames)
    row.add_object_instance(instance)
    return instance.object_hash


def add_sunny(row: LabelRowV2) -> str:
    instance = weather(row).create_instance()
    instance.set_answer(weather(row).attributes[0].options[0])
    instance.set_for_frames(frames=0)
    row.add_classification_instance(instance)
    return instance.classification_hash


def reread(project: Project, client: EncordUserClient) -> dict[str, LabelRowV2]:
    """The project's rows as a fresh client sees them, initialised, by data title."""
    rows = client.get_project(project.project_hash).list_label_rows_v2()
    for row in rows:
        if row.label_hash is not None:
            row.initialise_labels()
    return {row.data_title: row for row in rows}


@pytest.fixture
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def test_unlabelled_data_units_are_listed_without_a_label_hash(project_factory: Callable[..., Project]) -> None:
    project = project_factory()

    rows = project.list_label_rows_v2()

    assert [(r.data_title, r.data_type.value, r.label_hash) for r in rows] == [
        ("street.jpg", "image", None),
        ("drive.mp4", "video", None),
        ("burst", "img_group", None),
    ]
    assert [r.number_of_frames for r in rows] == [1, 20, 3]
    assert {r.workflow_graph_node.title for r in rows if r.workflow_graph_node} == {"Annotate"}


def test_the_legacy_project_record_carries_the_label_row_metadata_of_every_data_unit(
    project_factory: Callable[..., Project], quiet: None
) -> None:
    project = project_factory()
    image = project.list_label_rows_v2()[0]
    image.initialise_labels()  # creates the image's row; the video and the image group have none yet

    record = project.get_project()  # v1 `project` GET (P-01), include_labels_metadata
    metadata = LabelRowMetadata.from_list(record.label_rows)

    assert [(m.data_title, m.label_hash, m.data_type, m.dataset_hash) for m in metadata] == [
        ("street.jpg", image.label_hash, "IMAGE", image.dataset_hash),
        ("drive.mp4", None, "VIDEO", image.dataset_hash),
        ("burst", None, "IMG_GROUP", image.dataset_hash),
    ]
    assert [m.number_of_frames for m in metadata] == [1, 20, 3]
    assert project.label_rows == record.label_rows  # the deprecated property makes the same call


def test_labels_saved_on_images_videos_and_image_groups_read_back_as_saved(
    project_factory: Callable[..., Project], client: EncordUserClient
) -> None:
    project = project_factory()
    image, video, burst = project.list_label_rows_v2()
    for row in (image, video, burst):
        row.initialise_labels()
    image_car, sunny = add_car(image), add_sunny(image)
    video_car = add_car(video, frames=[2, 3, 4, 5, 9])
    burst_car = add_car(burst, frames=1)
    road = burst.ontology_structure.get_child_by_title("Road", type_=Object).create_instance()
    corners = [PointCoordinate(0.1, 0.1), PointCoordinate(0.5, 0.2), PointCoordinate(0.3, 0.6)]
    road.set_for_frames(PolygonCoordinates(corners), frames=2)
    burst.add_object_instance(road)
    with project.create_bundle() as bundle:
        for row in (image, video, burst):
            row.save(bundle=bundle)

    fresh = reread(project, client)

    (box,) = fresh["street.jpg"].get_object_instances()
    assert (box.object_hash, box.get_annotation(0).coordinates) == (image_car, BOX)
    (classification,) = fresh["street.jpg"].get_classification_instances()
    assert classification.classification_hash == sunny
    assert classification.get_answer().label == "Sunny"
    (moving,) = fresh["drive.mp4"].get_object_instances()
    assert moving.object_hash == video_car
    assert sorted(a.frame for a in moving.get_annotations()) == [2, 3, 4, 5, 9]
    assert {o.object_hash: [a.frame for a in o.get_annotations()] for o in fresh["burst"].get_object_instances()} == {
        burst_car: [1],
        road.object_hash: [2],
    }
    assert all(row.is_valid for row in fresh.values())


def test_bundled_reads_and_saves_are_one_call_each(
    project_factory: Callable[..., Project], sandbox: Sandbox, user: SandboxUser
) -> None:
    project = project_factory([{"title": f"{n}.jpg"} for n in range(12)])
    rows = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in rows:
            row.initialise_labels(bundle=bundle)  # creates every row: one labelrow PUT
    for row in rows:
        add_car(row)
    sandbox.clear_requests_log()

    with project.create_bundle() as bundle:
        for row in rows:
            row.save(bundle=bundle)
    again = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in again:
            row.initialise_labels(bundle=bundle)

    calls = [(e["query_type"], e["query_method"]) for e in sandbox.requests_log() if e["user"] == user.email]
    assert calls == [("labelrow", "POST"), ("labelrowmetadata", "GET"), ("labelrow", "GET")]
    assert all(len(row.get_object_instances()) == 1 for row in again)


def test_rows_filter_by_title_and_label_hash(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    first = project.list_label_rows_v2()[0]
    first.initialise_labels()

    by_title = project.list_label_rows_v2(data_title_like="%.mp4")
    by_label = project.list_label_rows_v2(label_hashes=[first.label_hash])
    by_stage = project.list_label_rows_v2(workflow_graph_node_title_eq="Review")

    assert [r.data_title for r in by_title] == ["drive.mp4"]
    assert [(r.data_title, r.label_hash) for r in by_label] == [("street.jpg", first.label_hash)]
    assert by_stage == []


def test_an_invalid_save_is_kept_marked_invalid_or_refused_when_validated(
    project_factory: Callable[..., Project], quiet: None
) -> None:
    project = project_factory()
    image = project.list_label_rows_v2()[0]
    image.initialise_labels()
    add_car(image)
    document = dict(LabelRow(image.to_encord_dict()))
    document["data_units"][image.data_hash]["labels"]["objects"][0]["featureHash"] = "unknown1"

    project.save_label_row(image.label_hash, document)
    (listed,) = project.list_label_rows_v2(label_hashes=[image.label_hash])
    errors = listed.get_validation_errors()
    with pytest.raises(FeatureDoesNotExistError):
        project.save_label_row(image.label_hash, document, validate_before_saving=True)

    assert listed.is_valid is False
    assert errors is not None and len(errors) == 1 and "unknown1" in errors[0]


def test_labels_copied_to_a_branch_are_read_from_that_branch(
    project_factory: Callable[..., Project], client: EncordUserClient
) -> None:
    project = project_factory()
    image = project.list_label_rows_v2()[0]
    image.initialise_labels()
    object_hash = add_car(image)
    image.save()

    copied = project.copy_labels_to_branch("second-opinion")
    branches = list(project.list_branches())
    (on_branch,) = [r for r in project.list_label_rows_v2(branch_name="second-opinion") if r.label_hash]
    on_branch.initialise_labels()

    assert copied == 1 and branches == ["main", "second-opinion"]
    assert on_branch.branch_name == "second-opinion" and on_branch.label_hash != image.label_hash
    assert [o.object_hash for o in on_branch.get_object_instances()] == [object_hash]
    assert project.copy_labels_to_branch("second-opinion") == 0  # the branch has them; nothing overwritten


def test_bulk_classifications_answer_only_the_classifications(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    image, video, _ = project.list_label_rows_v2()
    for row in (image, video):
        row.initialise_labels()
    sunny = add_sunny(image)
    add_car(video)
    for row in (image, video):
        row.save()

    entries = {str(e.label_uuid): e for e in project.get_label_classifications([image.label_hash, video.label_hash])}

    assert list(entries[image.label_hash].classification_answers) == [sunny]
    assert entries[image.label_hash].classification_answers[sunny].classifications[0].name == "Weather"
    assert entries[video.label_hash].classification_answers == {}


def test_the_deprecated_single_row_calls_work_and_a_second_row_is_refused(
    project_factory: Callable[..., Project], quiet: None
) -> None:
    project = project_factory()
    data_hash = project.list_label_rows_v2()[0].data_hash

    created = project.create_label_row(data_hash)
    fetched = project.get_label_row(created["label_hash"])
    with pytest.raises(ResourceExistsError):
        project.create_label_row(data_hash)

    assert fetched["label_hash"] == created["label_hash"] and fetched["data_hash"] == data_hash
    assert fetched["data_type"] == "image" and list(fetched["data_units"]) == [data_hash]


def test_someone_elses_label_rows_are_not_found(
    project_factory: Callable[..., Project], sandbox: Sandbox, make_user: Callable[[], SandboxUser]
) -> None:
    project = project_factory()
    stranger = EncordUserClient.create_with_ssh_private_key(make_user().openssh, domain=sandbox.url)

    with pytest.raises(ResourceNotFoundError):
        stranger.get_project(project.project_hash)
    with pytest.raises(ResourceNotFoundError):
        Querier(stranger.user_config.config, resource_type="project", resource_id=project.project_hash).get_multiple(
            LabelRowMetadata, payload={"include_uninitialised_labels": True}
        )


def test_legacy_label_statuses_drive_a_manual_qa_project(
    project_factory: Callable[..., Project], client: EncordUserClient
) -> None:
    source = client.create_project("benchmark source", [])
    project = project_factory(workflow_settings=BenchmarkQaWorkflowSettings(source_projects=[source]))
    row = project.list_label_rows_v2()[0]
    row.initialise_labels()
    querier = Querier(client.user_config.config, resource_type="project", resource_id=project.project_hash)
    route = type("review", (), {})

    submitted = querier.basic_put(route, uid=row.label_hash, payload=None)  # P-23, as SDKs up to 0.1.162 sent it
    after_submit = project.list_label_rows_v2()[0].label_status
    querier.basic_setter(type("labelstatus", (), {}), uid=row.label_hash, payload={"label_status": "REVIEWED"})  # P-22

    assert submitted is True and after_submit == LabelStatus.LABELLED
    assert project.list_label_rows_v2()[0].label_status == LabelStatus.REVIEWED


def test_the_storage_item_behind_a_row_is_the_data_units_file(project_factory: Callable[..., Project]) -> None:
    project = project_factory()
    image, video, _ = project.list_label_rows_v2()

    item = image.get_storage_item()
    signed = video.get_storage_item(get_signed_urls=True)

    assert (item.uuid, item.name) == (image.backing_item_uuid, "street.jpg")
    assert (signed.uuid, signed.name) == (video.backing_item_uuid, "drive.mp4")
    assert signed.get_signed_url() is not None
