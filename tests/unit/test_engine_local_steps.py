"""Local steps: Python a plan runs between its wire calls (P-26/P-27's COCO conversions), gathered for_each
answers, and emit handlers that turn each chunk of a stream into messages of their own."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.errors import GatewayError, invalid_argument
from encord_gateway.operations.engine import CallContext, Engine
from encord_gateway.operations.plan import CallPlan, PlanError
from encord_gateway.operations.refs import Scope
from test_engine_for_each import REQUEST, ROW, ROWS, FakeUpstream, Request, Resolver, spec


class Recorder:
    """A local step and emit handler that shows what it was given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def compute(self, scope: Scope) -> Any:
        self.seen.append(sorted(scope.results))
        if not scope.request.project_hash:
            raise invalid_argument([("project_hash", "is required")])
        return {"unlabelled": [r for r in scope.results["rows"] if not r["label_hash"]]}

    def emit(self, chunk: list[Any], answer: Any, scope: Scope, state: dict[str, Any]) -> list[Any]:
        state["batches"] = state.get("batches", 0) + 1
        labels = [d["label_hash"] for d in answer] if isinstance(answer, list) else []
        return [{"metadata": {"batch": state["batches"], "rows": len(chunk)}, "document": {"read": sorted(labels)}}]


def operation(**docs: Any) -> options_pb2.Operation:
    op = options_pb2.Operation(access=options_pb2.ACCESS_READ)
    op.steps.add(name="rows", v1=options_pb2.V1Call(query_type="labelrowmetadata", query_method="GET"))
    op.steps.add(name="split", local="recorder")
    step = op.steps.add(
        name="docs",
        v1=options_pb2.V1Call(query_type="labelrow", query_method="GET", uid_field="$each[*].label_hash"),
        for_each="$rows",
        when=["$each[*].label_hash"],
        **docs,
    )
    step.batch.size = 2
    return op


async def run_stream(op: options_pb2.Operation, recorder: Recorder, request: Any) -> tuple[list[Any], FakeUpstream]:
    upstream = FakeUpstream(ROWS)
    engine = Engine(upstream, Resolver(), None, None, local_steps={"recorder": recorder})  # type: ignore[arg-type]
    ctx = CallContext("caller", "org", time.monotonic() + 10)
    return [item async for item in engine.stream(spec(op), request, ctx)], upstream


async def test_an_emit_handler_turns_each_chunk_into_messages_keeping_its_state_across_chunks() -> None:
    recorder = Recorder()

    messages, upstream = await run_stream(
        operation(emit=True, emit_handler="recorder"), recorder, Request(project_hash="p")
    )

    assert [(dict(m.metadata), list(m.document["read"])) for m in messages] == [
        ({"batch": 1.0, "rows": 2.0}, ["l1", "l3"]),
        ({"batch": 2.0, "rows": 2.0}, ["l4"]),  # d2 has no label: only l4 is read
        ({"batch": 3.0, "rows": 1.0}, ["l5"]),
    ]
    assert recorder.seen == [["rows"]]  # the local step ran once, after the listing, without a wire call
    assert [query_type for query_type, _ in upstream.calls] == ["labelrowmetadata", *["labelrow"] * 3]


async def test_a_gathered_for_each_step_answers_every_chunk_joined_to_a_later_local_step() -> None:
    op = operation(gather=True)
    op.steps.add(name="after", local="joined")
    seen: list[Any] = []

    class Joined:
        def compute(self, scope: Scope) -> Any:
            seen.append(sorted(d["label_hash"] for d in scope.results["docs"]))
            return {}

    upstream = FakeUpstream(ROWS)
    engine = Engine(upstream, Resolver(), None, None, local_steps={"recorder": Recorder(), "joined": Joined()})  # type: ignore[arg-type,dict-item]
    ctx = CallContext("caller", "org", time.monotonic() + 10)
    _ = [item async for item in engine.stream(spec(op), Request(project_hash="p"), ctx)]

    assert seen == [["l1", "l3", "l4", "l5"]]  # not only the last chunk's


async def test_a_local_step_refusing_the_request_stops_the_plan_before_later_calls() -> None:
    with pytest.raises(GatewayError) as refused:
        await run_stream(operation(emit=True, emit_handler="recorder"), Recorder(), Request())

    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_an_unknown_local_step_fails_at_start_up() -> None:
    engine = Engine(FakeUpstream([]), Resolver(), None, None, local_steps={})  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="unknown local step 'recorder'"):
        engine.check_steps({"x": spec(operation())})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"gather": True, "for_each": ""}, "gather and emit_handler need for_each"),
        ({"emit_handler": "recorder"}, "an emit_handler needs emit"),
    ],
)
def test_gather_and_emit_handlers_that_cannot_work_fail_at_start_up(changes: dict[str, Any], problem: str) -> None:
    op = operation()
    for key, value in changes.items():
        setattr(op.steps[2], key, value)
    if not op.steps[2].for_each:
        op.steps[2].ClearField("batch")
        del op.steps[2].when[:]

    with pytest.raises(PlanError, match=problem):
        CallPlan.build(op, REQUEST, ROW, server_streaming=True)
