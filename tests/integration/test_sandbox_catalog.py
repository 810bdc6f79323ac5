"""Every wire call the gateway's catalog declares reaches a real sandbox handler.

Derived from the catalog, so that an RPC cannot be added to a proto without its sandbox behaviour: for
each step of each public RPC the test sends that step's call (its v1 query type and method at its
endpoint, or its v2 verb and path) to the sandbox over a real socket, signed like the gateway signs,
on resources the caller owns, and reads the sandbox's request log. A call no table routes is logged
NO_ROUTE; a stand-in handler NOT_MODELLED; either fails the test. What the handler answers (often a
refusal of the test's empty payload) does not matter here: the other suites test behaviour.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from encord import EncordUserClient
from encord.orm.dataset import StorageLocation
from encord_gateway.errors import GatewayError
from encord_gateway.operations.catalog import load_catalog
from encord_gateway.operations.plan import V1_RESOURCE_PATH, V1_USER_PATH, V2_PREFIX, CallTemplate, Source
from encord_gateway.operations.resources import v1_resource_header
from encord_gateway.operations.wiremap import encode_field
from encord_gateway.telemetry.metrics import Metrics
from encord_gateway.upstream.calls import WireCall
from encord_gateway.upstream.client import UpstreamClient
from google.protobuf import message_factory

if TYPE_CHECKING:
    from conftest import Sandbox, SandboxUser

UNROUTED = {"NO_ROUTE", "NOT_MODELLED"}
KINDS = {"project", "dataset", "ontology"}


def wire_steps() -> Iterator[tuple[str, str, CallTemplate, int, str]]:
    """(RPC, step name, call template, resource type, resource field) for every step of every public RPC."""
    for spec in sorted(load_catalog().values(), key=lambda s: s.full_name):
        if spec.operation is None or spec.plan is None:
            continue
        for step in spec.plan.steps:
            if step.transfer is not None:
                continue  # bytes to a signed URL, not a call of Encord's (the bucket: sandbox/blobs.py)
            if step.call is not None:  # local steps make no wire call
                yield spec.full_name, step.name, step.call, spec.operation.resource_type, spec.operation.resource_field


STEPS = list(wire_steps())


@pytest.fixture(scope="module")
def prober(sandbox: Sandbox) -> SandboxUser:
    return sandbox.new_user()


@pytest.fixture(scope="module")
def owned(sandbox: Sandbox, prober: SandboxUser) -> dict[str, str]:
    """One project, dataset and ontology the prober owns, so that resource checks let the calls through."""
    client = EncordUserClient.create_with_ssh_private_key(prober.openssh, domain=sandbox.url)
    dataset = str(client.create_dataset("catalog probe", StorageLocation.CORD_STORAGE).dataset_hash)
    ontology = str(client.create_ontology("catalog probe").ontology_hash)
    project = str(client.create_project("catalog probe", [dataset], ontology_hash=ontology))
    return {"project": project, "dataset": dataset, "ontology": ontology}


def _sample(part: Source, owned: dict[str, str]) -> str:
    """A path segment: the caller's own resource where the placeholder names one, an enum's wire value, else a UUID."""
    field = part.field
    if field is not None:
        kind = field.name.removesuffix("_hash")
        if kind in KINDS:
            return owned[kind]
        if field.type == field.TYPE_ENUM:
            value = next(v.number for v in field.enum_type.values if v.number != 0)
            message = message_factory.GetMessageClass(field.containing_type)()
            setattr(message, field.name, value)
            return str(encode_field(message, field, camel=True))
    return str(uuid.uuid4())


def wire_call(call: CallTemplate, resource_type: int, resource_field: str, owned: dict[str, str]) -> WireCall:
    """The bare call of one step: its routing facts with an empty payload or body."""
    if call.api == "v1":
        header = "" if call.user_endpoint or not resource_field else v1_resource_header(resource_type)
        envelope = {"query_type": call.target, "query_method": call.method, "values": {"uid": None, "payload": None}}
        return WireCall(
            "v1",
            "POST",
            V1_RESOURCE_PATH if header else V1_USER_PATH,
            "",
            json.dumps(envelope).encode(),
            header,
            owned.get(header, ""),
            call.target,
            call.method,
            False,
        )
    path = "/".join(part if isinstance(part, str) else _sample(part, owned) for part in call.path_parts)
    body = b"{}" if call.method in ("POST", "PUT", "PATCH") else None
    return WireCall("v2", call.method, V2_PREFIX + path, "", body, "", "", call.target, call.method, False)


@pytest.mark.parametrize(("rpc", "step", "call", "resource_type", "resource_field"), STEPS,
                         ids=[f"{s[0].rsplit('.', 2)[-2]}.{s[0].rsplit('.', 1)[-1]}{'/' + s[1] if s[1] else ''}" for s in STEPS])  # fmt: skip
async def test_every_declared_wire_call_reaches_a_real_sandbox_handler(
    sandbox: Sandbox,
    prober: SandboxUser,
    owned: dict[str, str],
    rpc: str,
    step: str,
    call: CallTemplate,
    resource_type: int,
    resource_field: str,
) -> None:
    sent = wire_call(call, resource_type, resource_field, owned)
    client = UpstreamClient(sandbox.url, Metrics())
    await client.start()
    before = len(sandbox.requests_log())
    try:
        await client.send(sent, prober.signer, time.monotonic() + 10)
    except GatewayError:
        pass  # a handler's refusal of an empty payload is still a handler
    finally:
        await client.close()
    entries = sandbox.requests_log()[before:]
    assert len(entries) == 1, entries
    assert entries[0]["outcome"] not in UNROUTED, (
        f"{rpc} {step or ''}: {call.api} {call.target} {call.method} → {entries[0]}"
    )


def test_the_probe_covers_every_public_rpc() -> None:
    covered = {rpc for rpc, *_ in STEPS}
    public = {s.full_name for s in load_catalog().values() if s.operation is not None}
    assert covered == public and len(STEPS) >= len(public)
