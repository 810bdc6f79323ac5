"""The sandbox's merged v1/v2 tables: every entry once, each a handler function of a domain module, stubs named."""

from __future__ import annotations

import inspect
import types
from typing import Any

import pytest
from encord_gateway.sandbox import routing
from encord_gateway.sandbox.domains import DOMAINS
from encord_gateway.sandbox.errors import ApiError
from encord_gateway.sandbox.operations import V1Operation, V2Route, needs
from encord_gateway.sandbox.requestlog import NOT_MODELLED, OK
from encord_gateway.sandbox.store import KINDS


def fake_domain(name: str, v1: dict[Any, V1Operation] | None = None, v2: tuple[V2Route, ...] = ()) -> Any:
    domain = types.ModuleType(name)
    domain.V1 = v1 or {}  # type: ignore[attr-defined]
    domain.V2 = v2  # type: ignore[attr-defined]
    return domain


def handler(call: Any) -> None:
    return None


def test_the_merged_tables_hold_every_domain_entry_exactly_once() -> None:
    assert len(routing.V1) == sum(len(d.V1) for d in DOMAINS)
    assert len(routing.V2) == sum(len(d.V2) for d in DOMAINS)
    shapes = [(r.method, r.shape) for r in routing.V2]
    assert len(shapes) == len(set(shapes))


def test_every_entry_is_a_handler_function_of_a_domain_module() -> None:
    modules = {d.__name__: d for d in DOMAINS}
    handlers = [op.handler for op in routing.V1.values()] + [r.handler for r in routing.V2]
    for function in handlers:
        assert inspect.isfunction(function), function
        assert function.__module__ in modules, f"{function.__qualname__} lives in {function.__module__}"
        assert getattr(modules[function.__module__], function.__name__) is function


def test_every_context_is_user_or_a_kind_and_every_parent_kind_exists() -> None:
    assert {context for context, _, _ in routing.V1} - {"user"} <= set(KINDS)
    for kind in KINDS.values():
        assert set(kind.parent_kinds) <= set(KINDS), kind.name


def test_a_v1_entry_declared_twice_fails_loudly() -> None:
    key = ("project", "labelrow", "GET")
    first, second = (
        fake_domain("first", {key: V1Operation(handler)}),
        fake_domain("second", {key: V1Operation(handler)}),
    )
    with pytest.raises(RuntimeError, match="declared by both first and second"):
        routing.merge_v1([first, second])


def test_a_v2_route_shadowing_another_fails_loudly() -> None:
    # Different parameter names, same verb and path shape: the second could never be reached.
    first = fake_domain("first", v2=(V2Route("GET", "projects/{project_hash}", handler),))
    second = fake_domain("second", v2=(V2Route("GET", "projects/{hash}", handler),))
    with pytest.raises(RuntimeError, match="declared by both first and second"):
        routing.merge_v2([first, second])
    other_verb = fake_domain("third", v2=(V2Route("PUT", "projects/{hash}", handler),))
    assert len(routing.merge_v2([first, other_verb])) == 2


@pytest.mark.parametrize(
    ("key", "operation", "problem"),
    [
        (("folder", "thing", "GET"), V1Operation(handler), "neither 'user' nor a kind"),
        (("project", "thing", "GET"), V1Operation(handler, key=needs("label.readwrite")), "unknown API key scope"),
    ],
)
def test_an_entry_with_an_unknown_context_or_scope_fails_loudly(key: Any, operation: V1Operation, problem: str) -> None:
    with pytest.raises(RuntimeError, match=problem):
        routing.merge_v1([fake_domain("bad", {key: operation})])


def test_the_stand_in_entries_are_exactly_these() -> None:
    """Each is a table entry whose handler does not model Encord's behaviour; the request log says NOT_MODELLED.

    Modelling one means removing it here (and `modelled=False` from its entry).
    """
    stand_ins = {key for key, op in routing.V1.items() if not op.modelled}
    assert stand_ins == set()
    assert [r.pattern for r in routing.V2 if not r.modelled] == []


def test_a_stand_in_handlers_answers_and_refusals_are_logged_not_modelled() -> None:
    """Every table entry models Encord now; the mechanism stays for the next stand-in."""

    def answers(call: Any) -> str:
        return "made up"

    def refuses(call: Any) -> str:
        raise ApiError("RESOURCE_NOT_FOUND_ERROR", "not modelled")

    assert routing._run(answers, False, None) == ("made up", NOT_MODELLED)  # type: ignore[arg-type]
    assert routing._run(answers, True, None) == ("made up", OK)  # type: ignore[arg-type]
    with pytest.raises(ApiError) as refused:
        routing._run(refuses, False, None)  # type: ignore[arg-type]
    assert refused.value.outcome == NOT_MODELLED


@pytest.mark.parametrize(
    ("method", "path", "logged"),
    [
        ("GET", "projects/p-1/groups", ("project", "p-1")),
        ("GET", "storage/folders/f-1/items", ("folder", "f-1")),
        ("DELETE", "storage/folders/f-1/groups", ("folder", "f-1")),
        ("GET", "storage/items/i-1", ("item", "i-1")),
        ("GET", "storage/folders", (None, None)),
        ("GET", "no/such/route", (None, None)),
    ],
)
def test_the_request_log_names_the_resource_of_a_path_by_hash_or_uuid(
    method: str, path: str, logged: tuple[str | None, str | None]
) -> None:
    assert routing.route_params(method, path) == logged
