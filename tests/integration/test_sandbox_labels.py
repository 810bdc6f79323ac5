"""The sandbox's label-row and workflow rules over real sockets: workflow templates from the control API,
document checks and their all-or-nothing saves, Encord's batch limit, data units joining a project, and
label rows surviving a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from encord import EncordUserClient
from encord.exceptions import CorruptedLabelError, MultiLabelLimitError, ResourceNotFoundError
from encord.http.querier import Querier
from encord.objects import Object, OntologyStructure, Shape
from encord.objects.coordinates import BoundingBoxCoordinates
from encord.orm.dataset import StorageLocation
from encord.orm.label_row import LabelRow
from encord.project import Project

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

LABEL_ROW = type("labelrow", (), {})  # the Querier routes by the lower-cased class name
DONE = {"key": "done", "stageType": "DONE", "title": "Complete"}


def client_of(sandbox: Sandbox, user: SandboxUser) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(user.openssh, domain=sandbox.url)


def new_project(client: EncordUserClient, sandbox: Sandbox, units: list[dict[str, Any]]) -> tuple[Project, str]:
    dataset = client.create_dataset("data", StorageLocation.CORD_STORAGE).dataset_hash
    sandbox.seed_data_units(dataset, units)
    structure = OntologyStructure()
    structure.add_object("Car", Shape.BOUNDING_BOX)
    ontology = client.create_ontology("cars", structure=structure).ontology_hash
    return client.get_project(client.create_project("rules", [dataset], ontology_hash=ontology)), dataset


def querier(client: EncordUserClient, project: Project) -> Querier:
    return Querier(client.user_config.config, resource_type="project", resource_id=project.project_hash)


@pytest.mark.parametrize(
    ("stages", "problem"),
    [
        ([{"key": "a", "stageType": "ANNOTATION", "title": "A", "next": "nowhere"}, DONE], "'next' must name"),
        ([{"key": "r", "stageType": "USER_ROUTER", "title": "R"}, DONE], "'stageType' must be one of"),
        ([DONE], "the first stage"),
        ([{"key": "a", "stageType": "ANNOTATION", "title": "A", "next": "b"},
          {"key": "b", "stageType": "REVIEW", "title": "B", "approve": "a", "reject": "a"}], "needs a DONE stage"),
        ([{"key": "t", "stageType": "AGENT", "title": "T", "pathways": []}, DONE], "pathways"),
        ([{"key": "c", "stageType": "CONSENSUS_ANNOTATION", "title": "C", "next": "done", "annotators": 9}, DONE],
         "'annotators' must be an integer from 2 to 5"),
        ([{"key": "a", "stageType": "ANNOTATION", "title": "A", "next": "done"}, {**DONE, "key": "a"}], "a 'key' of its own"),
        ([], "non-empty list"),
    ],
)  # fmt: skip
def test_a_template_that_cannot_run_is_refused_with_what_is_wrong(
    sandbox: Sandbox, stages: list[dict[str, Any]], problem: str
) -> None:
    status, body = sandbox.control("POST", "/sandbox/v1/workflow-templates", {"title": "broken", "stages": stages})

    assert status == 400
    assert problem in body["message"]


def test_a_project_on_an_unknown_template_is_not_created(sandbox: Sandbox, user: SandboxUser) -> None:
    client = client_of(sandbox, user)

    with pytest.raises(ResourceNotFoundError):
        client.create_project("templated", [], workflow_template_hash="00000000-0000-0000-0000-000000000000")

    assert list(client.list_projects(title_eq="templated")) == []


def test_projects_of_one_template_have_stages_of_their_own(sandbox: Sandbox, user: SandboxUser) -> None:
    client = client_of(sandbox, user)
    template = sandbox.create_workflow_template(
        "short", [{"key": "a", "stageType": "ANNOTATION", "title": "Label", "next": "done"}, DONE]
    )

    first, second = (client.get_project(client.create_project(t, [], workflow_template_hash=template)) for t in "xy")

    assert [s.title for s in first.workflow.stages] == ["Label", "Complete"]
    assert {s.uuid for s in first.workflow.stages}.isdisjoint(s.uuid for s in second.workflow.stages)


def test_a_corrupted_document_in_a_batch_saves_none_of_the_batch(sandbox: Sandbox, user: SandboxUser) -> None:
    client = client_of(sandbox, user)
    project, _ = new_project(
        client, sandbox, [{"title": "a.jpg"}, {"title": "clip.mp4", "data_type": "VIDEO", "frames": 4}]
    )
    image, video = project.list_label_rows_v2()
    with project.create_bundle() as bundle:
        for row in (image, video):
            row.initialise_labels(bundle=bundle)
    box = BoundingBoxCoordinates(height=0.5, width=0.5, top_left_x=0.0, top_left_y=0.0)
    instance = image.ontology_structure.get_child_by_title("Car", type_=Object).create_instance()
    instance.set_for_frames(box, frames=0)
    image.add_object_instance(instance)
    video_document = dict(LabelRow(video.to_encord_dict()))
    video_document["data_units"][video.data_hash]["labels"] = {"7": {"objects": [], "classifications": []}}

    with pytest.raises(CorruptedLabelError):
        client_project_save(
            client, project, [image.label_hash, video.label_hash], [image.to_encord_dict(), video_document]
        )
    (reread,) = project.list_label_rows_v2(data_title_eq="a.jpg")
    reread.initialise_labels()

    assert reread.get_object_instances() == []


def client_project_save(client: EncordUserClient, project: Project, hashes: list[str], documents: list[Any]) -> None:
    payload = {"multi_request": True, "labels": documents, "validate_before_saving": False}
    querier(client, project).basic_setter(LABEL_ROW, uid=hashes, payload=payload)


def test_more_rows_than_encord_reads_at_once_is_refused_with_the_limit(sandbox: Sandbox, user: SandboxUser) -> None:
    client = client_of(sandbox, user)
    project, _ = new_project(client, sandbox, [{"title": "a.jpg"}])
    too_many = [f"00000000-0000-0000-0000-{n:012d}" for n in range(1001)]

    with pytest.raises(MultiLabelLimitError) as refused:
        querier(client, project).get_multiple(LABEL_ROW, uid=too_many, payload={"multi_request": True})
    fine = querier(client, project).get_multiple(LABEL_ROW, uid=too_many[:1000], payload={"multi_request": True})

    assert refused.value.maximum_labels_allowed == 1000
    assert fine == []  # unknown label hashes are skipped, not errors


def test_data_units_added_later_get_a_task_and_deleted_ones_leave(sandbox: Sandbox, user: SandboxUser) -> None:
    client = client_of(sandbox, user)
    project, dataset = new_project(client, sandbox, [{"title": "early.jpg"}])
    assert [r.data_title for r in project.list_label_rows_v2()] == ["early.jpg"]

    (late,) = sandbox.seed_data_units(dataset, [{"title": "late.jpg"}])
    rows = project.list_label_rows_v2()
    client.get_dataset(dataset).delete_data([late["data_hash"]])

    assert [(r.data_title, r.workflow_graph_node.title if r.workflow_graph_node else None) for r in rows] == [
        ("early.jpg", "Annotate"),
        ("late.jpg", "Annotate"),
    ]
    assert [r.data_title for r in project.list_label_rows_v2()] == ["early.jpg"]
    assert [t.data_title for t in project.workflow.stages[0].get_tasks()] == ["early.jpg"]


def test_label_rows_survive_a_restart(sandbox_factory: Callable[[Path | None], Sandbox], tmp_path: Path) -> None:
    first = sandbox_factory(tmp_path / "state.db")
    user = first.new_user()
    client = client_of(first, user)
    project, _ = new_project(client, first, [{"title": "kept.jpg"}])
    (row,) = project.list_label_rows_v2()
    row.initialise_labels()
    instance = row.ontology_structure.get_child_by_title("Car", type_=Object).create_instance()
    instance.set_for_frames(BoundingBoxCoordinates(height=0.5, width=0.5, top_left_x=0.0, top_left_y=0.0), frames=0)
    row.add_object_instance(instance)
    row.save()
    first.stop()

    second = sandbox_factory(tmp_path / "state.db")
    (again,) = client_of(second, user).get_project(project.project_hash).list_label_rows_v2()
    again.initialise_labels()

    assert again.label_hash == row.label_hash
    assert [o.object_hash for o in again.get_object_instances()] == [instance.object_hash]
