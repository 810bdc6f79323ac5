"""The parsed, checked plan of one RPC: its wire call(s) and how answers become the response.

Built once at start-up from the `(operation)` option (see options.proto for the declaration
language), so that every mistake in a declaration fails the gateway's start rather than a call.
The engine executes plans; nothing here does I/O.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor, empty_pb2, message

from .._generated.encord.gateway.v1 import options_pb2
from ..errors import invalid_argument
from ..upstream.calls import WireCall
from .descriptors import FieldDescriptor, MessageDescriptor
from .refs import MISSING, Condition, Reference, ReferenceError, Scope, parse_condition, parse_reference
from .resources import v1_resource_header
from .wiremap import (
    MalformedUpstreamResult,
    decode_value,
    encode_field,
    encode_request_field,
    is_map,
    is_set,
    wire_key,
)

if TYPE_CHECKING:
    from .filestream import FileStreamPlan
    from .transfers import TransferPlan

FD = descriptor.FieldDescriptor

V1_USER_PATH = "/public/user"
V1_RESOURCE_PATH = "/public"
V2_PREFIX = "/v2/public/"
LAST = "_"  # scope name of the last answer, which `result_path` walks
EACH, ITEM, ANSWER = "each", "item", "answer"  # what a for_each step's references see (see options.proto)
RESERVED = frozenset({"request", LAST, EACH, ITEM, ANSWER})


class PlanError(ValueError):
    """A declaration that cannot work; raised at start-up."""


# ---- entries -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a value comes from: a request field (with an optional literal for when it is unset), a
    reference, or a literal alone."""

    field: FieldDescriptor | None = None
    reference: Reference | None = None  # the value itself, or a set field's fallback
    literal: Any = MISSING

    def value(self, scope: Scope, camel: bool, keep_nulls: bool, *, copy_refs: bool = True) -> Any:
        """The value to send, or MISSING to leave the key out. `copy_refs=False` hands out what a reference names
        itself, for objects that are only read (a response, an emitted message), never changed."""
        if self.field is not None and is_set(scope.request, self.field):
            return encode_field(scope.request, self.field, camel, keep_nulls)
        if self.reference is not None:
            found = self.reference.resolve(
                Scope(scope.request, scope.encode_request_field, scope.results, camel, scope.indexes)
            )
            if found is MISSING:
                return None if keep_nulls else MISSING
            # A copy: the object built from it may be changed (`a.b+=...`), the answer it came from must not.
            return copy.deepcopy(found) if copy_refs else found
        if self.literal is not MISSING:
            return copy.deepcopy(self.literal)
        if self.field is not None:
            return None if keep_nulls else MISSING
        return MISSING


@dataclass(frozen=True)
class Entry:
    """One key of an object being built: set (or append to) the member at `path`."""

    path: tuple[str, ...]
    source: Source
    append: bool = False


def _field_named(request: MessageDescriptor, name: str, camel: bool) -> FieldDescriptor | None:
    found = request.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in request.fields if wire_key(f, camel) == name), None)


def _literal(text: str, raw: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PlanError(f"entry {raw!r}: {text!r} is neither a $reference nor a JSON literal") from None


def parse_source(text: str, request: MessageDescriptor, camel: bool, context: str) -> Source:
    """`field`, `$ref` or a JSON object or list literal: what `x+=...`, uid_field, payload_field and body_field name."""
    if text.startswith("$"):
        return Source(reference=_reference(text, context))
    if text[:1] in ("{", "["):
        return Source(literal=_literal(text, context))
    field = _field_named(request, text, camel)
    if field is None:
        raise PlanError(f"{context}: {request.full_name} has no field {text!r}")
    return Source(field=field)


def _reference(text: str, context: str) -> Reference:
    try:
        return parse_reference(text)
    except ReferenceError as exc:
        raise PlanError(f"{context}: {exc}") from None


def parse_entry(raw: str, request: MessageDescriptor, camel: bool) -> Entry:
    name, sep, rest = raw.partition("=")
    if sep and name.endswith("+"):
        path = tuple(name[:-1].split("."))
        return Entry(path, parse_source(rest, request, camel, f"entry {raw!r}"), append=True)
    field = _field_named(request, name, camel) if "." not in name else None
    if not sep:
        if field is None:
            raise PlanError(f"{request.full_name}: entry {raw!r} is neither a field nor a constant")
        return Entry((wire_key(field, camel),), Source(field=field))
    if rest.startswith("$"):
        reference = _reference(rest, f"entry {raw!r}")
        if field is not None:
            return Entry((wire_key(field, camel),), Source(field=field, reference=reference))
        return Entry(tuple(name.split(".")), Source(reference=reference))
    literal = _literal(rest, raw)
    if field is not None:
        return Entry((wire_key(field, camel),), Source(field=field, literal=literal))
    return Entry(tuple(name.split(".")), Source(literal=literal))


def parse_result_entry(raw: str, response: MessageDescriptor, context: str) -> Entry:
    """`field=$ref` of result_fields and emit_fields: a response field filled from a reference."""
    name, sep, rest = raw.partition("=")
    if not sep or not rest.startswith("$") or name not in response.fields_by_name:
        raise PlanError(f"{context}: entries must be `<{response.full_name} field>=$ref`, not {raw!r}")
    return Entry((name,), Source(reference=_reference(rest, f"{context} {raw!r}")))


def _child(node: dict[str, Any] | list[Any], key: str, below: str, entry: Entry) -> dict[str, Any] | list[Any]:
    """The object or list at `key` of `node`, made when missing (a list when the key `below` it is a number): a
    member of an object, or (a numeric key) an element of a list, appended when it is the one just past the end."""
    if isinstance(node, list):
        index = int(key) if key.isdigit() else -1
        if index == len(node):
            node.append({})
        if not 0 <= index < len(node):
            raise MalformedUpstreamResult(f"{'.'.join(entry.path)}: no element {key} in the list")
        child = node[index]
    else:
        child = node.setdefault(key, [] if below.isdigit() else {})
    if not isinstance(child, dict | list) or (isinstance(child, list) and not below.isdigit()):
        raise MalformedUpstreamResult(f"{'.'.join(entry.path)}: {key!r} is not an object")
    return child


def _place(target: dict[str, Any], entry: Entry, value: Any) -> None:
    node: dict[str, Any] | list[Any] = target
    for key, below in zip(entry.path[:-1], entry.path[1:], strict=True):
        node = _child(node, key, below, entry)
    if isinstance(node, list):  # `a.0.b=...` sets a member of an element; `a.0=...` would replace one
        raise MalformedUpstreamResult(f"{'.'.join(entry.path)}: a list element is set member by member")
    last = entry.path[-1]
    if not entry.append:
        node[last] = value
        return
    existing = node.setdefault(last, [])
    if not isinstance(existing, list):
        raise MalformedUpstreamResult(f"{'.'.join(entry.path)} is not a list")
    repeated = entry.source.field is not None and entry.source.field.is_repeated
    existing.extend(value if repeated and isinstance(value, list) else [value])


def build_object(
    entries: Sequence[Entry],
    scope: Scope,
    camel: bool,
    keep_nulls: bool,
    base: Any = MISSING,
    *,
    read_only: bool = False,
) -> dict[str, Any]:
    """The object the entries describe. `read_only`: the result is only read (decoded into a message), so values
    taken from answers need no copy."""
    result: dict[str, Any] = copy.deepcopy(base) if isinstance(base, dict) else {}
    for entry in entries:
        value = entry.source.value(scope, camel, keep_nulls and not entry.append, copy_refs=not read_only)
        if value is not MISSING:
            _place(result, entry, value)
    return result


def _check_sources(
    entries: Sequence[Entry], extra: Sequence[Source], request: MessageDescriptor, steps: set[str]
) -> None:
    for source in [e.source for e in entries] + list(extra):
        if source.reference is not None:
            try:
                source.reference.check(request, steps)
            except ReferenceError as exc:
                raise PlanError(str(exc)) from None


# ---- one wire call -------------------------------------------------------------------------------


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # the SDK's Python spelling (§3.2)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _whole(source: Source | None, scope: Scope, camel: bool, keep_nulls: bool) -> Any:
    """The value of a payload_field/body_field: what it names, or MISSING."""
    if source is None:
        return MISSING
    if source.field is not None and not is_set(scope.request, source.field):
        return [] if source.field.is_repeated and not is_map(source.field) else MISSING
    return source.value(scope, camel, keep_nulls)


@dataclass(frozen=True)
class CallTemplate:
    """One v1 or v2 call of a plan; `build` fills it from a scope."""

    api: str
    method: str  # v1 query_method or v2 HTTP verb
    target: str  # v1 query_type or v2 path template
    entries: tuple[Entry, ...]  # v1 payload or v2 body
    whole: Source | None  # payload_field / body_field
    query: tuple[Entry, ...] = ()
    path_parts: tuple[str | Source, ...] = ()
    uid: Source | None = None
    uid_generated: int = 0
    keep_nulls: bool = False
    camel: bool = True
    user_endpoint: bool = False
    body_as_list: bool = False

    @property
    def is_read_verb(self) -> bool:
        return self.method == "GET"

    @classmethod
    def from_v1(cls, v1: options_pb2.V1Call, request: MessageDescriptor) -> CallTemplate:
        camel = v1.camel_case
        context = f"{request.full_name} v1 {v1.query_type} {v1.query_method}"
        if not v1.query_type or v1.query_method not in ("GET", "POST", "PUT", "DELETE"):
            raise PlanError(f"{context}: a v1 call needs a query_type and GET, POST, PUT or DELETE")
        whole = parse_source(v1.payload_field, request, camel, context) if v1.payload_field else None
        if whole is not None and whole.field is not None and whole.field.is_repeated and v1.payload_fields:
            raise PlanError(f"{context}: a list payload ({v1.payload_field}) cannot take payload_fields too")
        return cls(
            api="v1",
            method=v1.query_method,
            target=v1.query_type,
            entries=tuple(parse_entry(raw, request, camel) for raw in v1.payload_fields),
            whole=whole,
            uid=parse_source(v1.uid_field, request, False, context) if v1.uid_field else None,
            uid_generated=int(v1.uid_generated),
            keep_nulls=v1.keep_nulls,
            camel=camel,
            user_endpoint=v1.user_endpoint,
        )

    @classmethod
    def from_v2(cls, v2: options_pb2.V2Call, request: MessageDescriptor) -> CallTemplate:
        context = f"{request.full_name} v2 {v2.method} {v2.path}"
        if v2.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise PlanError(f"{context}: unsupported HTTP method {v2.method!r}")
        parts: list[str | Source] = []
        for segment in v2.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if not name.startswith("$") and name not in request.fields_by_name:
                    raise PlanError(f"{request.full_name} has no path field {name}")
                parts.append(parse_source(name, request, True, context))
            else:
                parts.append(segment)
        whole = parse_source(v2.body_field, request, True, context) if v2.body_field else None
        if whole is not None and whole.field is not None and whole.field.is_repeated and v2.body_fields:
            raise PlanError(f"{context}: a list body ({v2.body_field}) cannot take body_fields too")
        return cls(
            api="v2",
            method=v2.method,
            target=v2.path,
            entries=tuple(parse_entry(raw, request, True) for raw in v2.body_fields),
            whole=whole,
            query=tuple(parse_entry(raw, request, True) for raw in v2.query_fields),
            path_parts=tuple(parts),
            body_as_list=v2.body_as_list,
        )

    def check(self, request: MessageDescriptor, steps: set[str]) -> None:
        extra = [s for s in (self.whole, self.uid) if s is not None]
        extra += [p for p in self.path_parts if isinstance(p, Source)]
        _check_sources(self.entries + self.query, extra, request, steps)

    def _uid(self, scope: Scope) -> Any:
        if self.uid_generated == options_pb2.GENERATED_UUID4:
            return str(uuid.uuid4())
        if self.uid is None:
            return None
        value = self.uid.value(scope, camel=False, keep_nulls=True)
        return None if value is MISSING else value

    def _object(self, scope: Scope) -> Any:
        """The v1 payload or v2 body, or MISSING for none."""
        whole = _whole(self.whole, scope, self.camel, self.keep_nulls)
        if isinstance(whole, list):
            return whole
        if not self.entries:
            return whole
        built = build_object(self.entries, scope, self.camel, self.keep_nulls, whole)
        return [built] if self.body_as_list else built

    def _path(self, scope: Scope) -> str:
        segments = []
        for part in self.path_parts:
            if isinstance(part, str):
                segments.append(part)
                continue
            value = part.value(scope, camel=True, keep_nulls=False)
            if value is MISSING or value is None or value == "":
                if part.field is not None:  # the caller left out what the path needs
                    raise invalid_argument([(part.field.name, "is required")])
                raise MalformedUpstreamResult("a path segment of the call has no value")
            segments.append(urllib.parse.quote(str(value), safe=""))
        return V2_PREFIX + "/".join(segments)

    def _query(self, scope: Scope) -> str:
        pairs: list[tuple[str, str]] = []
        for key, value in build_object(self.query, scope, camel=True, keep_nulls=False).items():
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    pairs.append((key, _query_text(item)))
        return urllib.parse.urlencode(pairs)

    def build(self, scope: Scope, *, resource_type: str, resource_id: str, retryable: bool) -> WireCall:
        if self.api == "v1":
            payload = self._object(scope)
            envelope = {
                "query_type": self.target,
                "query_method": self.method,
                "values": {"uid": self._uid(scope), "payload": None if payload is MISSING else payload},
            }
            header = "" if self.user_endpoint else resource_type
            return WireCall(
                api="v1",
                http_method="POST",
                path=V1_RESOURCE_PATH if header else V1_USER_PATH,
                query="",
                body=json.dumps(envelope).encode("ascii"),
                resource_type=header,
                resource_id=resource_id if header else "",
                query_type=self.target,
                query_method=self.method,
                retryable=retryable,
            )
        body = self._object(scope)
        return WireCall(
            api="v2",
            http_method=self.method,
            path=self._path(scope),
            query=self._query(scope),
            body=None if body is MISSING else json.dumps(body).encode("ascii"),
            resource_type="",
            resource_id=resource_id,
            query_type=self.target,
            query_method=self.method,
            retryable=retryable,
        )


def call_template(holder: options_pb2.Operation | options_pb2.Step, request: MessageDescriptor) -> CallTemplate:
    kind = holder.WhichOneof("call")
    if kind == "v1":
        return CallTemplate.from_v1(holder.v1, request)
    if kind == "v2":
        return CallTemplate.from_v2(holder.v2, request)
    if kind == "transfer" and isinstance(holder, options_pb2.Step):
        # Not a call to Encord: the template only names the step in errors and metrics (never by its URL).
        return CallTemplate(api="transfer", method=holder.transfer.method or "PUT", target="signed URL", entries=(),
                            whole=None)  # fmt: skip
    raise PlanError(f"operation for {request.full_name} declares neither v1 nor v2")


# ---- the whole operation -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkPlan:
    fields: tuple[FieldDescriptor, ...]
    size: int
    limit_error: str
    limit_key: str
    limit_fallback: int
    merge_key: str


@dataclass(frozen=True)
class ForEach:
    """A step run once per chunk of a list from an earlier answer (`$each` inside it)."""

    values: Reference
    batch: ChunkPlan
    key: str  # the elements' ordering key; "" keeps the list's order
    resume_field: FieldDescriptor | None
    emit_fields: tuple[Entry, ...]  # one message per element, from `$item` and `$answer`
    gather: bool = False  # the step's answer is every chunk's, joined
    emit_handler: str = ""  # a local step that turns each chunk into the stream's messages


@dataclass(frozen=True)
class StepPlan:
    name: str
    call: CallTemplate | None  # None for a local step
    when: tuple[Condition, ...] = ()
    require: Reference | None = None
    require_message: str = ""
    repeat_until: Condition | None = None
    emit: bool = False
    emit_path: Reference | None = None
    for_each: ForEach | None = None
    local: str = ""  # the named local step that computes the answer instead of a wire call
    transfer: TransferPlan | None = None  # bytes to a signed URL instead of `call` (operations/transfers.py)

    def runs(self, scope: Scope) -> bool:
        return all(condition.holds(scope) for condition in self.when)

    @property
    def label(self) -> str:
        """How errors name the step: its wire call, or its local step."""
        return f"{self.call.target} {self.call.method}" if self.call is not None else f"local {self.local}"


@dataclass(frozen=True)
class PagePlan:
    items: str
    items_field: FieldDescriptor | None
    size_param: str
    max_page_size: int
    single_page: bool


def _condition(text: str, context: str) -> Condition:
    try:
        return parse_condition(text)
    except ReferenceError as exc:
        raise PlanError(f"{context}: {exc}") from None


def _check_refs(references: Sequence[Reference | None], request: MessageDescriptor, steps: set[str]) -> None:
    for reference in references:
        if reference is not None:
            try:
                reference.check(request, steps)
            except ReferenceError as exc:
                raise PlanError(str(exc)) from None


def _steps(
    operation: options_pb2.Operation, request: MessageDescriptor, response: MessageDescriptor
) -> tuple[StepPlan, ...]:
    if not operation.steps:
        return (StepPlan("", call_template(operation, request)),)
    if operation.WhichOneof("call") is not None:
        raise PlanError(f"{request.full_name}: declare either one call or steps, not both")
    plans: list[StepPlan] = []
    seen: set[str] = set()
    for step in operation.steps:
        context = f"{request.full_name} step {step.name!r}"
        if not step.name or step.name in seen or step.name in RESERVED:
            raise PlanError(f"{context}: steps need unique names other than {', '.join(sorted(RESERVED))}")
        for_each = _for_each(step, request, response, seen, context)
        inside = seen | ({EACH} if for_each is not None else set())
        local = step.local if step.WhichOneof("call") == "local" else ""
        if step.WhichOneof("call") == "local" and (not local or for_each is not None or step.repeat_until):
            raise PlanError(f"{context}: a local step needs a name, and runs once (no for_each, no repeat)")
        transfer = _transfer(operation, step, request, inside, context)
        plan = StepPlan(
            name=step.name,
            call=None if local else call_template(step, request),
            local=local,
            when=tuple(_condition(text, context) for text in step.when),
            require=_reference(step.require, context) if step.require else None,
            require_message=step.require_message or f"{step.name}: nothing matched",
            repeat_until=_condition(step.repeat_until, context) if step.repeat_until else None,
            emit=step.emit,
            emit_path=_reference(step.emit_path, context) if step.emit_path else None,
            for_each=for_each,
            transfer=transfer,
        )
        if plan.call is not None:
            plan.call.check(request, inside)
        _check_refs([c.reference for c in plan.when], request, inside)
        seen.add(step.name)
        # The step's own answer may be named by its require/repeat/emit references.
        _check_refs([plan.require, plan.emit_path, plan.repeat_until.reference if plan.repeat_until else None],
                    request, seen)  # fmt: skip
        if plan.repeat_until is not None and for_each is not None:
            raise PlanError(f"{context}: a for_each step cannot also repeat")
        plans.append(plan)
    return tuple(plans)


def _transfer(
    operation: options_pb2.Operation,
    step: options_pb2.Step,
    request: MessageDescriptor,
    earlier: set[str],
    context: str,
) -> TransferPlan | None:
    if step.WhichOneof("call") != "transfer":
        return None
    from .transfers import transfer_plan  # imported here: transfers builds on this module's entries

    if step.for_each:
        raise PlanError(f"{context}: a transfer step runs once, not for_each")
    return transfer_plan(
        step.transfer, request, earlier, file_stream=operation.HasField("file_stream"), context=context
    )


def _for_each(
    step: options_pb2.Step, request: MessageDescriptor, response: MessageDescriptor, seen: set[str], context: str
) -> ForEach | None:
    if not step.for_each:
        if step.emit_fields or step.HasField("batch") or step.for_each_key or step.resume_field:
            raise PlanError(f"{context}: batch, for_each_key, resume_field and emit_fields need for_each")
        if step.gather or step.emit_handler:
            raise PlanError(f"{context}: gather and emit_handler need for_each")
        return None
    if step.emit_handler and (step.emit_fields or not step.emit):
        raise PlanError(f"{context}: an emit_handler needs emit, and replaces emit_fields")
    values = _reference(step.for_each, context)
    _check_refs([values], request, seen)
    batch = step.batch
    resume = None
    if step.resume_field:
        resume = _field(request, step.resume_field, "resume field")
        if resume.type != FD.TYPE_STRING or not step.for_each_key:
            raise PlanError(f"{context}: resume_field must be a string field, with for_each_key")
    emit_fields = tuple(parse_result_entry(raw, response, f"{context} emit_fields") for raw in step.emit_fields)
    for entry in emit_fields:
        _check_refs([entry.source.reference], request, seen | {step.name, EACH, ITEM, ANSWER})
    return ForEach(
        values=values,
        batch=ChunkPlan((), batch.size, batch.limit_error, batch.limit_key, batch.limit_fallback or 1, ""),
        key=step.for_each_key,
        resume_field=resume,
        emit_fields=emit_fields,
        gather=step.gather,
        emit_handler=step.emit_handler,
    )


def _field(msg: MessageDescriptor, name: str, what: str) -> FieldDescriptor:
    field = msg.fields_by_name.get(name)
    if field is None:
        raise PlanError(f"{msg.full_name} has no {what} {name}")
    return field


@dataclass(frozen=True)
class CallPlan:
    """Everything the engine needs to run one RPC."""

    operation: options_pb2.Operation
    steps: tuple[StepPlan, ...]
    result_field: FieldDescriptor | None
    result_path: Reference | None
    result_fields: tuple[Entry, ...]
    chunking: ChunkPlan | None
    paging: PagePlan | None
    long_poll_field: FieldDescriptor | None
    client_chunk_field: FieldDescriptor | None
    error_path: Reference | None
    file_stream: FileStreamPlan | None = None  # a bidirectional stream of files (operations/filestream.py)

    @property
    def composite(self) -> bool:
        return bool(self.operation.steps)

    @classmethod
    def build(
        cls,
        operation: options_pb2.Operation,
        request: MessageDescriptor,
        response: MessageDescriptor,
        *,
        server_streaming: bool = False,
    ) -> CallPlan:
        name = request.full_name
        result_field = _field(response, operation.result_field, "result field") if operation.result_field else None
        for echo in operation.echo_fields:
            if echo not in request.fields_by_name or echo not in response.fields_by_name:
                raise PlanError(f"echo field {echo} must exist in {name} and {response.full_name}")
        if operation.resource_field and operation.resource_field not in request.fields_by_name:
            raise PlanError(f"{name} has no resource field {operation.resource_field}")
        for reference in operation.references:
            if reference.field not in request.fields_by_name:
                raise PlanError(f"{name} has no referenced field {reference.field}")
        steps = _steps(operation, request, response)
        names = {s.name for s in steps if s.name} | {LAST}
        if not operation.steps:
            assert steps[0].call is not None
            steps[0].call.check(request, set())
        uses_v1_resource = any(s.call is not None and s.call.api == "v1" and not s.call.user_endpoint for s in steps)
        if operation.resource_field and uses_v1_resource and not v1_resource_header(operation.resource_type):
            raise PlanError(f"{name}: a v1 resource call needs a project, dataset or ontology type")
        result_path = None
        if operation.result_path:
            text = operation.result_path
            result_path = _reference(text if text.startswith("$") else f"${LAST}.{text}", name)
            _check_refs([result_path], request, names)
        result_fields = tuple(
            parse_result_entry(raw, response, f"{name} result_fields") for raw in operation.result_fields
        )
        for entry in result_fields:
            _check_refs([entry.source.reference], request, names)
        error_path = _reference(f"${LAST}.{operation.error_path}", name) if operation.error_path else None
        return cls(
            operation=operation,
            steps=steps,
            result_field=result_field,
            result_path=result_path,
            result_fields=result_fields,
            chunking=_chunking(operation, request),
            paging=_paging(operation, request, response, server_streaming),
            long_poll_field=_long_poll(operation, request),
            client_chunk_field=_client_stream(operation, request),
            error_path=error_path,
            file_stream=_file_stream(operation, request, response, steps),
        )

    # -- building calls ---------------------------------------------------------------------------

    def scope(self, request: message.Message) -> Scope:
        return Scope(request, encode_request_field)

    def resource(self, request: message.Message) -> tuple[str, str]:
        """(v1 ResourceType header, resource id) of the operation's calls."""
        op = self.operation
        resource_id = str(getattr(request, op.resource_field)) if op.resource_field else ""
        header = v1_resource_header(op.resource_type) if op.resource_field else ""
        return header, resource_id

    def build_call(self, step: StepPlan, scope: Scope) -> WireCall:
        header, resource_id = self.resource(scope.request)
        read = self.operation.access == options_pb2.ACCESS_READ
        assert step.call is not None, f"{step.name} is a local step"
        return step.call.build(
            scope, resource_type=header, resource_id=resource_id, retryable=read or step.call.is_read_verb
        )

    def wire_call(self, request: message.Message) -> WireCall:
        """The wire call of a single-call operation (tests and tools)."""
        return self.build_call(self.steps[0], self.scope(request))

    # -- reading answers --------------------------------------------------------------------------

    def response(
        self,
        response_class: type[message.Message],
        result: Any,
        request: message.Message,
        scope: Scope | None = None,
    ) -> message.Message:
        if response_class is empty_pb2.Empty:
            return empty_pb2.Empty()
        scope = scope or self.scope(request)
        scope.results[LAST] = result
        if self.result_fields:
            _check_members_of_objects(self.result_fields, scope)
            data = build_object(self.result_fields, scope, camel=False, keep_nulls=False, read_only=True)
            response = decode_value(response_class, data)
        else:
            if self.result_path is not None:
                result = self.result_path.resolve(scope)
                if result is MISSING:
                    raise MalformedUpstreamResult(f"the answer has no {self.operation.result_path!r} member")
            if self.result_field is not None:
                result = {self.result_field.name: result}
            response = decode_value(response_class, result)
        _echo(response, request, self.operation.echo_fields)
        return response


def _check_members_of_objects(entries: Sequence[Entry], scope: Scope) -> None:
    """A result field naming a member of a step's answer that is not an object (a string where a project
    was due): the answer is malformed, not merely missing that member."""
    for entry in entries:
        reference = entry.source.reference
        if reference is None or not reference.segments or not isinstance(reference.segments[0], str):
            continue
        answer = scope.results.get(reference.root)
        if answer is not None and not isinstance(answer, dict):
            raise MalformedUpstreamResult(f"the {reference.root!r} step's answer is not an object")


def _echo(response: message.Message, request: message.Message, names: Sequence[str]) -> None:
    for name in names:
        field = request.DESCRIPTOR.fields_by_name[name]
        if not is_set(request, field):
            continue
        if field.is_repeated:
            getattr(response, name).extend(getattr(request, name))
        elif field.type == FD.TYPE_MESSAGE:
            getattr(response, name).CopyFrom(getattr(request, name))
        else:
            setattr(response, name, getattr(request, name))


def _chunking(operation: options_pb2.Operation, request: MessageDescriptor) -> ChunkPlan | None:
    if not operation.HasField("chunking"):
        return None
    chunking = operation.chunking
    if operation.steps or chunking.size == 0 or not chunking.fields:
        raise PlanError(f"{request.full_name}: chunking needs fields, a size, and a single call")
    fields = tuple(_field(request, name, "chunked field") for name in chunking.fields)
    if not all(f.is_repeated and not is_map(f) for f in fields):
        raise PlanError(f"{request.full_name}: chunked fields must be repeated")
    return ChunkPlan(
        fields,
        chunking.size,
        chunking.limit_error,
        chunking.limit_key,
        chunking.limit_fallback or 1,
        chunking.merge_key,
    )


def _paging(
    operation: options_pb2.Operation, request: MessageDescriptor, response: MessageDescriptor, streaming: bool
) -> PagePlan | None:
    if not operation.HasField("paging"):
        return None
    paging = operation.paging
    name = request.full_name
    if operation.steps or operation.HasField("chunking") or not paging.items:
        raise PlanError(f"{name}: paging needs `items` and a single call")
    token, size = _field(request, "page_token", "field"), _field(request, "page_size", "field")
    if token.type != FD.TYPE_STRING or size.type not in (FD.TYPE_INT32, FD.TYPE_UINT32):
        raise PlanError(f"{name}: page_token must be a string and page_size an int32")
    if paging.size_param and not any(
        e.source.field is not None and e.source.field.name == "page_size" for e in _query_entries(operation, request)
    ):
        raise PlanError(f"{name}: size_param {paging.size_param} needs a query entry for page_size")
    items_field = None
    if not streaming:
        items_field = _field(response, paging.items_field, "items field")
        next_token = _field(response, "next_page_token", "field")
        if not items_field.is_repeated or next_token.type != FD.TYPE_STRING:
            raise PlanError(f"{response.full_name}: items must be repeated and next_page_token a string")
    return PagePlan(paging.items, items_field, paging.size_param, paging.max_page_size, paging.single_page)


def _query_entries(operation: options_pb2.Operation, request: MessageDescriptor) -> tuple[Entry, ...]:
    return (
        tuple(parse_entry(raw, request, True) for raw in operation.v2.query_fields) if operation.HasField("v2") else ()
    )


def _long_poll(operation: options_pb2.Operation, request: MessageDescriptor) -> FieldDescriptor | None:
    if not operation.HasField("long_poll"):
        return None
    field = _field(request, operation.long_poll.field, "long-poll field")
    if field.type not in (FD.TYPE_INT32, FD.TYPE_UINT32, FD.TYPE_INT64, FD.TYPE_UINT64) or not (
        operation.long_poll.max_seconds
    ):
        raise PlanError(f"{request.full_name}: a long poll needs an integer field and max_seconds")
    return field


def _file_stream(
    operation: options_pb2.Operation, request: MessageDescriptor, response: MessageDescriptor, steps: Sequence[StepPlan]
) -> FileStreamPlan | None:
    if not operation.HasField("file_stream"):
        return None
    from .filestream import file_stream_plan  # imported here: file streams build on this module's plans

    return file_stream_plan(operation, request, response, steps)


def _client_stream(operation: options_pb2.Operation, request: MessageDescriptor) -> FieldDescriptor | None:
    if not operation.HasField("client_stream"):
        return None
    field = _field(request, operation.client_stream.chunk_field, "chunk field")
    if field.type != FD.TYPE_BYTES or field.is_repeated or not operation.client_stream.max_bytes:
        raise PlanError(f"{request.full_name}: a client stream needs a singular bytes chunk field and max_bytes")
    return field
