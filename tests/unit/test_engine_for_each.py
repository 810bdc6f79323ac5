"""A for_each step: one wire call per chunk of a list read earlier, one streamed message per element.

The shape of StreamLabelRows: list the rows (one call), then fetch documents in batches for the rows
that have one, emitting every row with its document joined in, resumable after a key.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from encord_gateway._generated.encord.gateway.v1 import options_pb2
from encord_gateway.errors import GatewayError
from encord_gateway.operations import catalog
from encord_gateway.operations.engine import CallContext, Engine
from encord_gateway.operations.plan import CallPlan, PlanError
from encord_gateway.upstream.calls import WireCall
from encord_gateway.upstream.credentials import Credential
from encord_gateway.upstream.errors import from_v1_code
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2

PACKAGE = "foreachtest.v1"
STRUCT = ".google.protobuf.Struct"


def _descriptors() -> tuple[Any, Any]:
    file = descriptor_pb2.FileDescriptorProto(name="foreachtest/v1/rows.proto", package=PACKAGE, syntax="proto3")
    file.dependency.extend([options_pb2.DESCRIPTOR.name, struct_pb2.DESCRIPTOR.name])
    request = file.message_type.add(name="StreamRowsRequest")
    request.field.add(name="project_hash", number=1, type=9, label=1)
    request.field.add(name="after", number=2, type=9, label=1)
    row = file.message_type.add(name="Row")
    row.field.add(name="metadata", number=1, type=11, label=1, type_name=STRUCT)
    row.field.add(name="document", number=2, type=11, label=1, type_name=STRUCT)
    pool = descriptor_pool.Default()
    try:
        pool.AddSerializedFile(file.SerializeToString())
    except TypeError:
        pass  # already added by an earlier import of this module
    return pool.FindMessageTypeByName(f"{PACKAGE}.StreamRowsRequest"), pool.FindMessageTypeByName(f"{PACKAGE}.Row")


REQUEST, ROW = _descriptors()
Request = message_factory.GetMessageClass(REQUEST)
Row = message_factory.GetMessageClass(ROW)


def operation(batch: int = 2, **extra: Any) -> options_pb2.Operation:
    op = options_pb2.Operation(access=options_pb2.ACCESS_READ)
    op.steps.add(name="rows", v1=options_pb2.V1Call(query_type="labelrowmetadata", query_method="GET"))
    fetch = op.steps.add(
        name="docs",
        v1=options_pb2.V1Call(query_type="labelrow", query_method="GET", uid_field="$each[*].label_hash"),
        for_each="$rows",
        for_each_key="data_hash",
        resume_field="after",
        emit=True,
        when=["$each[*].label_hash"],
        emit_fields=["metadata=$item", "document=$answer[label_hash=$item.label_hash]"],
        **extra,
    )
    fetch.batch.size = batch
    fetch.batch.limit_error = "MULTI_LABEL_LIMIT_ERROR"
    fetch.batch.limit_key = "maximum_labels_allowed"
    fetch.batch.limit_fallback = 1
    return op


class FakeUpstream:
    """Answers labelrowmetadata with `rows` and labelrow with the documents of the uid's label hashes."""

    def __init__(self, rows: list[dict[str, Any]], limit: int | None = None) -> None:
        self.rows = rows
        self.limit = limit
        self.calls: list[Any] = []

    async def send(self, call: WireCall, credential: Any, deadline: float) -> Any:
        body = json.loads(call.body or b"{}")
        uid = body["values"]["uid"]
        self.calls.append((call.query_type, uid))
        if call.query_type == "labelrowmetadata":
            return self.rows
        if self.limit is not None and len(uid) > self.limit:
            raise from_v1_code("MULTI_LABEL_LIMIT_ERROR", {"maximum_labels_allowed": self.limit}, label="labelrow GET")
        return [{"label_hash": h, "objects": [h.upper()]} for h in reversed(uid)]  # any order, as Encord answers


class Resolver:
    async def resolve(self, organisation: str, spec: Any = None, request: Any = None) -> Credential:
        return Credential("org_ssh_key", "cred")

    def record_use(self, credential: Credential) -> None:
        pass


def spec(op: options_pb2.Operation) -> catalog.OperationSpec:
    plan = CallPlan.build(op, REQUEST, ROW, server_streaming=True)
    return catalog.OperationSpec(
        service=f"{PACKAGE}.RowService",
        method="StreamRows",
        request_class=Request,
        response_class=Row,
        http=None,
        operation=op,
        plan=plan,
        server_streaming=True,
    )


async def stream(upstream: FakeUpstream, request: Any, op: options_pb2.Operation | None = None) -> list[Any]:
    engine = Engine(upstream, Resolver(), None, None)  # type: ignore[arg-type]
    ctx = CallContext("caller", "org", time.monotonic() + 10)
    items: AsyncIterator[Any] = engine.stream(spec(op or operation()), request, ctx)
    return [item async for item in items]


ROWS = [
    {"data_hash": "d3", "label_hash": "l3"},
    {"data_hash": "d1", "label_hash": "l1"},
    {"data_hash": "d2", "label_hash": None},  # not initialised: metadata only
    {"data_hash": "d4", "label_hash": "l4"},
    {"data_hash": "d5", "label_hash": "l5"},
]


def as_json(row: Any) -> tuple[str, Any]:
    document = dict(row.document) if row.HasField("document") else None
    return row.metadata["data_hash"], (list(document["objects"]) if document else None)


async def test_every_row_is_emitted_in_key_order_with_its_document_joined_in() -> None:
    upstream = FakeUpstream(ROWS)

    rows = await stream(upstream, Request(project_hash="p"))

    assert [as_json(r) for r in rows] == [("d1", ["L1"]), ("d2", None), ("d3", ["L3"]), ("d4", ["L4"]), ("d5", ["L5"])]
    # One listing, then one call per chunk of two rows, with only the initialised rows' label hashes.
    assert upstream.calls == [
        ("labelrowmetadata", None), ("labelrow", ["l1"]), ("labelrow", ["l3", "l4"]), ("labelrow", ["l5"]),
    ]  # fmt: skip


async def test_a_chunk_without_documents_makes_no_call() -> None:
    upstream = FakeUpstream([{"data_hash": "d1", "label_hash": None}, {"data_hash": "d2", "label_hash": None}])

    rows = await stream(upstream, Request(project_hash="p"))

    assert [as_json(r) for r in rows] == [("d1", None), ("d2", None)]
    assert upstream.calls == [("labelrowmetadata", None)]


async def test_a_stream_resumes_after_the_last_key_it_sent() -> None:
    upstream = FakeUpstream(ROWS)

    rows = await stream(upstream, Request(project_hash="p", after="d3"))

    assert [as_json(r)[0] for r in rows] == ["d4", "d5"]
    assert upstream.calls[1:] == [("labelrow", ["l4", "l5"])]


async def test_encords_limit_error_shrinks_the_batch_and_nothing_is_lost() -> None:
    upstream = FakeUpstream(ROWS, limit=1)

    rows = await stream(upstream, Request(project_hash="p"), operation(batch=3))

    assert [as_json(r) for r in rows][:2] == [("d1", ["L1"]), ("d2", None)]
    assert len(rows) == 5
    fetched = [uid for kind, uid in upstream.calls if kind == "labelrow"]
    assert fetched[0] == ["l1", "l3"]  # refused: the first chunk of three held two documents
    assert all(len(uid) <= 1 for uid in fetched[1:])


async def test_another_error_ends_the_stream_with_it() -> None:
    class Failing(FakeUpstream):
        async def send(self, call: WireCall, credential: Any, deadline: float) -> Any:
            if call.query_type == "labelrow":
                raise GatewayError(grpc.StatusCode.UNAVAILABLE, "down", reason="UPSTREAM_UNAVAILABLE")
            return await super().send(call, credential, deadline)

    with pytest.raises(GatewayError) as raised:
        await stream(Failing(ROWS), Request(project_hash="p"))
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"for_each": "$later"}, "no earlier step named 'later'"),
        ({"resume_field": "nope"}, "no resume field nope"),
        ({"emit_fields": ["nothing=$item"]}, "entries must be"),
        ({"emit_fields": ["metadata=$elsewhere"]}, "no earlier step named 'elsewhere'"),
    ],
)
def test_a_for_each_declaration_that_cannot_work_fails_at_start_up(changes: dict[str, Any], problem: str) -> None:
    op = operation()
    step = op.steps[1]
    for name, value in changes.items():
        if isinstance(value, list):
            del getattr(step, name)[:]
            getattr(step, name).extend(value)
        else:
            setattr(step, name, value)

    with pytest.raises(PlanError, match=problem):
        CallPlan.build(op, REQUEST, ROW, server_streaming=True)
