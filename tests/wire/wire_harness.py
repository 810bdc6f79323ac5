"""What a wire-equality case declares, and how one is run: setup once, then the SDK, then the gateway.

A case names the RPC it drives and the catalogue rows it proves; the harness calls that RPC through
its generated stub, so a case only says how to build the request message.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import grpc
from encord import EncordUserClient
from encord.objects import OntologyStructure
from encord.orm.dataset import StorageLocation
from encord_gateway.operations.catalog import PUBLIC_PACKAGE, OperationSpec, load_catalog
from google.protobuf import descriptor_pool, message
from wire_recorder import RecordedRequest, RecordingUpstream

Given = dict[str, Any]  # what a case's setup prepared (hashes, titles, SDK objects), shared by both sides


@dataclass
class WireSides:
    """The two clients of one case, holding the same Ed25519 key and pointed at the same recorder."""

    sdk: EncordUserClient
    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...]
    public_key_hex: str
    recorder: RecordingUpstream
    # Stores a resource API key in the gateway's vault, as an operator does: (resource type, hash, key, scopes).
    register_api_key: Callable[[str, str, str, Sequence[str]], None]

    @staticmethod
    def unique(prefix: str) -> str:
        """A title no other case uses, so that listings filtered by it see only this case's data."""
        return f"wire-{prefix}-{uuid.uuid4().hex[:10]}"

    # Setup helpers: resources made through the SDK, unrecorded, that both sides then act on.

    def new_dataset(self, title: str, description: str | None = None) -> str:
        return str(self.sdk.create_dataset(title, StorageLocation.CORD_STORAGE, description).dataset_hash)

    def new_ontology(self, title: str, structure: OntologyStructure | None = None) -> str:
        return str(self.sdk.create_ontology(title, "", structure).ontology_hash)

    def new_project(self, title: str) -> str:
        return str(self.sdk.create_project(title, []))


@dataclass(frozen=True)
class WireCase:
    """One operation, done once by the official SDK and once through the gateway.

    `rpc` is "Service.Method" in encord.gateway.v1; `proves` the catalogue IDs (of that RPC) this case
    shows the gateway sends correctly. `setup` runs once, unrecorded; `sdk` is the reference action;
    `request` builds the gateway's request message. `masks` name body values the SDK randomises
    (dotted JSON paths, `*` for every element; see wire_compare.apply_masks) and, as `path:<n>`, path
    segments holding ids the server made up apart for each side (wire_compare.masked_path). `restore` runs between
    the two sides, unrecorded, and undoes what the SDK's action changed that the gateway would read
    (P-13 appends to the editor it reads: both sides must start from the same one). `free_form` says the
    body carries a google.protobuf.Struct (an ontology structure, a label document): Struct keeps no
    key order, so the gateway sends its keys sorted (always the same bytes) and bodies are compared
    as parsed JSON, signatures still verified on both sides. `gateway_fails` names the gRPC status the
    gateway's call must end with when it repeats a change the SDK already made (deleting what the SDK
    just deleted answers NOT_FOUND); its wire request is compared all the same.
    """

    name: str
    rpc: str
    proves: tuple[str, ...]
    sdk: Callable[[WireSides, Given], object]
    request: Callable[[Given], message.Message]
    setup: Callable[[WireSides], Given] = field(default=lambda sides: {})  # nothing to prepare
    masks: tuple[str, ...] = ()
    free_form: bool = False
    restore: Callable[[WireSides, Given], object] = field(default=lambda sides, given: None)  # nothing to undo
    gateway_fails: str = ""

    @property
    def full_name(self) -> str:
        return f"{PUBLIC_PACKAGE}.{self.rpc}"


@dataclass(frozen=True)
class Recorded:
    """The requests each side sent for one case, in the order they reached the recorder."""

    sdk: list[RecordedRequest]
    gateway: list[RecordedRequest]


@cache
def catalog() -> dict[str, OperationSpec]:
    return load_catalog()


def _stub_method(spec: OperationSpec, channel: grpc.Channel) -> Callable[..., Any]:
    """The generated stub's method for `spec` (`<domain>_pb2_grpc.<Service>Stub(channel).<Method>`)."""
    proto_file = descriptor_pool.Default().FindServiceByName(spec.service).file.name  # where the service is declared
    module = importlib.import_module(
        "encord_gateway._generated." + proto_file.removesuffix(".proto").replace("/", ".") + "_pb2_grpc"
    )
    service = spec.service.rsplit(".", 1)[1]
    stub = getattr(module, f"{service}Stub")(channel)
    method: Callable[..., Any] = getattr(stub, spec.method)
    return method


def call_gateway(sides: WireSides, case: WireCase, given: Given) -> object:
    spec = catalog()[case.full_name]
    request = case.request(given)
    assert isinstance(request, spec.request_class), f"{case.name}: {case.rpc} takes {spec.request_class.__name__}"
    sent = iter([request]) if spec.client_streaming else request  # a client stream of one message
    try:
        answer = _stub_method(spec, sides.channel)(sent, metadata=sides.metadata)
        if not isinstance(answer, message.Message) and isinstance(answer, Iterable):
            answer = list(answer)  # a server stream: drain it so that every upstream call has happened
    except grpc.RpcError as error:
        if not case.gateway_fails or error.code().name != case.gateway_fails:
            raise
        return error
    assert not case.gateway_fails, f"{case.name}: the gateway's call succeeded, expected {case.gateway_fails}"
    return answer


def record(sides: WireSides, case: WireCase) -> Recorded:
    """Set up once, then record the SDK's requests, then the gateway's, each from an empty log."""
    given = case.setup(sides)
    sides.recorder.clear()
    case.sdk(sides, given)
    reference = sides.recorder.take()
    case.restore(sides, given)
    sides.recorder.clear()
    call_gateway(sides, case, given)
    return Recorded(reference, sides.recorder.take())
