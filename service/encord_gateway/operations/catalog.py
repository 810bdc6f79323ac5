"""The operation table, derived at start-up from the proto descriptors (the single source of truth)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message, message_factory

from .._generated.encord.gateway import v1 as generated_v1
from .._generated.encord.gateway.admin import v1 as generated_admin_v1
from .._generated.encord.gateway.v1 import options_pb2
from . import catalogue
from .descriptors import has_option, option
from .plan import CallPlan

PUBLIC_PACKAGE = "encord.gateway.v1"


@dataclass(frozen=True)
class HttpRule:
    """A google.api.http binding: verb, path template, and which fields the body carries."""

    verb: str
    template: str
    body: str

    @cached_property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{([a-z_][a-z0-9_]*)\}", self.template))


@dataclass(frozen=True)
class OperationSpec:
    """Everything the gateway knows about one RPC, read from its descriptor and options."""

    service: str  # fully qualified, e.g. encord.gateway.v1.ProjectService
    method: str  # e.g. GetProject
    request_class: type[message.Message]
    response_class: type[message.Message]
    http: HttpRule | None
    # Exactly one of these: an upstream operation (with its parsed plan) or an admin operation.
    operation: options_pb2.Operation | None
    plan: CallPlan | None
    admin: options_pb2.AdminOperation | None = None
    server_streaming: bool = False
    client_streaming: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.service}.{self.method}"

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def access(self) -> int:
        declared = self.admin if self.admin is not None else self.operation
        assert declared is not None
        return int(declared.access)

    @property
    def is_read(self) -> bool:
        return self.access == options_pb2.ACCESS_READ

    @property
    def right(self) -> str:
        """The policy right the call needs: admin for the admin API, else read or write."""
        if self.admin is not None:
            return "admin"
        return "read" if self.is_read else "write"

    @property
    def cache_ttl(self) -> float:
        if self.operation is None or not self.is_read:
            return 0.0
        return float(self.operation.cache_ttl_seconds)

    def deadline_limit(self, default: float) -> float:
        """The longest a call may run: the operation's own bound (long polls, job streams) or the default."""
        declared = self.operation.max_deadline_seconds if self.operation is not None else 0
        return float(declared) if declared else default

    @property
    def invalidates(self) -> tuple[str, ...]:
        return tuple(self.operation.invalidates) if self.operation is not None else ()


def _http_rule(method: descriptor.MethodDescriptor) -> HttpRule | None:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    if verb is None or verb == "custom":
        raise ValueError(f"{method.full_name}: unsupported google.api.http pattern")
    return HttpRule(verb=verb.upper(), template=getattr(rule, verb), body=rule.body)


def api_modules() -> list[ModuleType]:
    """Every generated *_pb2 module of the public and admin APIs, imported so that descriptors register."""
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for package in (generated_v1, generated_admin_v1)
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith("_pb2")
    ]


def load_catalog(modules: list[ModuleType] | None = None) -> dict[str, OperationSpec]:
    """Build the spec of every RPC that declares an upstream operation, keyed by its full name."""
    specs: dict[str, OperationSpec] = {}
    for module in modules if modules is not None else api_modules():
        file_descriptor: descriptor.FileDescriptor = module.DESCRIPTOR
        for service in file_descriptor.services_by_name.values():
            for method in service.methods:
                spec = _spec(service.full_name, method)
                specs[spec.full_name] = spec
    _check_invalidations(specs)
    catalogue.check_catalogue_ids(specs.values(), PUBLIC_PACKAGE)
    return specs


def _spec(service: str, method: descriptor.MethodDescriptor) -> OperationSpec:
    options = method.GetOptions()
    operation: options_pb2.Operation | None = None
    admin: options_pb2.AdminOperation | None = None
    plan = None
    if has_option(options, options_pb2.operation):
        operation = option(options, options_pb2.operation)
        plan = CallPlan.build(
            operation, method.input_type, method.output_type, server_streaming=method.server_streaming
        )
        if method.client_streaming != plan.operation.HasField("client_stream"):
            raise ValueError(f"{method.full_name}: a client-streaming RPC declares client_stream, and only it")
        if method.server_streaming and not (plan.paging is not None or any(s.emit for s in plan.steps)):
            raise ValueError(f"{method.full_name}: a server-streaming RPC pages or has steps that emit")
    if has_option(options, options_pb2.admin):
        admin = option(options, options_pb2.admin)
        if admin.organisation_field and admin.organisation_field not in method.input_type.fields_by_name:
            raise ValueError(f"{method.full_name}: no organisation field {admin.organisation_field}")
    if (operation is None) == (admin is None):
        raise ValueError(f"{method.full_name} must declare exactly one of (operation) and (admin)")
    return OperationSpec(
        service=service,
        method=method.name,
        request_class=message_factory.GetMessageClass(method.input_type),
        response_class=message_factory.GetMessageClass(method.output_type),
        http=_http_rule(method),
        operation=operation,
        plan=plan,
        admin=admin,
        server_streaming=bool(method.server_streaming),
        client_streaming=bool(method.client_streaming),
    )


def _check_invalidations(specs: dict[str, OperationSpec]) -> None:
    """A write that names a method that does not exist would silently leave stale reads behind."""
    for spec in specs.values():
        for target in spec.invalidates:
            if target not in specs:
                raise ValueError(f"{spec.full_name} invalidates unknown method {target}")
            if not specs[target].is_read:
                raise ValueError(f"{spec.full_name} invalidates {target}, which is not a read")


def service_names(specs: dict[str, OperationSpec]) -> list[str]:
    return sorted({spec.service for spec in specs.values()})
