"""Typed Python client of the Encord Gateway: sync and asyncio, deadlines, safe retries, pages and streams.

    from encord_gateway_client import Client, NotFound

    with Client.from_env() as gateway:   # ENCORD_GATEWAY_TARGET, ENCORD_GATEWAY_TOKEN, ...
        created = gateway.project.create_project(title="Cars")
        for project in gateway.project.iter_list_projects(title_like="%Car%"):
            print(project.project_hash, project.title)

Messages and enums live in one module per proto package (`encord_gateway_client.v1`, `.admin_v1`).
"""

from ._config import ClientConfig, ConfigError, RetryPolicy, TLSConfig
from ._errors import (
    GATEWAY_DOMAIN,
    UPSTREAM_DOMAIN,
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    GatewayError,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from ._services import SERVICE_ATTRIBUTES, AsyncClient, Client

__version__ = "0.1.0"

__all__ = [
    "GATEWAY_DOMAIN",
    "SERVICE_ATTRIBUTES",
    "UPSTREAM_DOMAIN",
    "Aborted",
    "AlreadyExists",
    "AsyncClient",
    "Cancelled",
    "Client",
    "ClientConfig",
    "ConfigError",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "GatewayError",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "TLSConfig",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
