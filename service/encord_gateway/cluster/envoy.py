"""Envoy's configuration for the local cluster: one gRPC and one REST listener in front of every replica.

Reads are retried on another replica when the one they went to failed (refused, reset, UNAVAILABLE):
a read repeated is harmless. Writes are retried only when they never reached a replica (connect failure,
refused stream), since one that was reset may have been carried out. Replicas that stop answering their
`/readyz` leave the rotation within a second (active health checks on the metrics port), and one whose
connections fail is ejected at once (outlier detection), so a killed replica costs the calls it had in
flight and no more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

READ_METHODS = r"^/[^/]+/(Get|List|Stream|Search|Count|Describe|Check|Watch)[^/]*$"
"""gRPC paths of reads (the catalog names its reads so; a write retried on reset could run twice)."""

READ_RETRIES = "connect-failure,refused-stream,unavailable,reset"
WRITE_RETRIES = "connect-failure,refused-stream"


@dataclass(frozen=True)
class Upstream:
    """One replica as Envoy sees it."""

    grpc_port: int
    rest_port: int
    metrics_port: int


def _retry(on: str) -> dict[str, Any]:
    return {
        "retry_on": on,
        "num_retries": 3,
        "per_try_timeout": "30s",
        "retry_host_predicate": [{
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3"
                                      ".PreviousHostsPredicate"},
        }],
        "host_selection_retry_max_attempts": 5,
    }  # fmt: skip


def _listener(name: str, port: int, routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                         ".HttpConnectionManager",
                "stat_prefix": name,
                "codec_type": "AUTO",
                "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            },
        }]}],
    }  # fmt: skip


def _cluster(name: str, upstreams: list[Upstream], port_of: str, http2: bool) -> dict[str, Any]:
    endpoints = [{
        "endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": getattr(u, port_of)}},
            "health_check_config": {"port_value": u.metrics_port},
        },
    } for u in upstreams]  # fmt: skip
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        "health_checks": [{
            "timeout": "1s", "interval": "1s", "unhealthy_threshold": 1, "healthy_threshold": 1,
            "http_health_check": {"path": "/readyz"},
        }],
        "outlier_detection": {
            "split_external_local_origin_errors": True, "consecutive_local_origin_failure": 1,
            "interval": "1s", "base_ejection_time": "5s", "max_ejection_percent": 50,
        },
        "common_lb_config": {"healthy_panic_threshold": {"value": 0}},
    }  # fmt: skip
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def config(upstreams: list[Upstream], grpc_port: int, rest_port: int, admin_port: int) -> str:
    """Envoy's bootstrap as JSON (which Envoy reads as YAML)."""
    grpc_routes = [
        {"match": {"safe_regex": {"regex": READ_METHODS}},
         "route": {"cluster": "grpc", "timeout": "60s", "retry_policy": _retry(READ_RETRIES)}},
        {"match": {"prefix": "/"}, "route": {"cluster": "grpc", "timeout": "60s", "retry_policy": _retry(WRITE_RETRIES)}},
    ]  # fmt: skip
    rest_routes = [
        {"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
         "route": {"cluster": "rest", "timeout": "60s", "retry_policy": _retry(READ_RETRIES)}},
        {"match": {"prefix": "/"}, "route": {"cluster": "rest", "timeout": "60s", "retry_policy": _retry(WRITE_RETRIES)}},
    ]  # fmt: skip
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [_listener("grpc", grpc_port, grpc_routes), _listener("rest", rest_port, rest_routes)],
            "clusters": [
                _cluster("grpc", upstreams, "grpc_port", True),
                _cluster("rest", upstreams, "rest_port", False),
            ],
        },
    }
    return json.dumps(bootstrap, indent=2)
