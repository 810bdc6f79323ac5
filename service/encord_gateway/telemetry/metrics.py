"""Prometheus series: grpc-prometheus names for the server, plus upstream and cache series.

No label carries a resource id, a user or a secret: only services, methods, codes and kinds.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# grpc-prometheus exports no `*_created` series; dashboards written for it expect none.
disable_created_metrics()

# Buckets span a sub-millisecond cache hit up to a slow upstream call.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Every series the gateway exports, on a registry of its own (one per gateway instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        server_labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server.", server_labels, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, regardless of success or failure.",
            [*server_labels, "grpc_code"],
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Response latency of RPCs handled by the server (gRPC and REST).",
            server_labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_requests = Counter(
            "encord_upstream_requests_total",
            "HTTP requests sent to Encord, by API generation, call and outcome.",
            ["api", "query_type", "query_method", "outcome"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "encord_upstream_request_seconds",
            "Latency of HTTP requests sent to Encord.",
            ["api", "query_type", "query_method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "encord_gateway_cache_requests_total",
            "Cache lookups for cacheable reads, by result (hit or miss).",
            ["grpc_service", "grpc_method", "result"],
            registry=self.registry,
        )
        self.cache_invalidations = Counter(
            "encord_gateway_cache_invalidations_total",
            "Cached entries dropped because a write made them stale.",
            ["grpc_service", "grpc_method"],
            registry=self.registry,
        )
        self.credential_uses = Counter(
            "encord_gateway_credential_uses_total",
            "Upstream calls by the kind of credential that signed them (org_ssh_key or resource_api_key) and outcome.",
            ["kind", "grpc_code"],
            registry=self.registry,
        )
        self.vault_sealed = Gauge(
            "encord_gateway_vault_sealed",
            "1 while the credential vault is sealed (its key-encryption key is unavailable).",
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "encord_gateway_audit_failures_total",
            "Audit events not recorded: before a change (the call was refused) or after it (the call stood).",
            ["stage"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "encord_gateway_auth_failures_total",
            "Calls refused before reaching an operation, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.upstream_lane_waits = Counter(
            "encord_upstream_organisation_waits_total",
            "Upstream requests that waited because their organisation had its share of connections in use.",
            registry=self.registry,
        )
        self.upstream_circuit_state = Gauge(
            "encord_upstream_circuit_state",
            "The circuit of each upstream host: 0 closed (calls pass), 1 half-open (one probe), 2 open (calls fail fast).",
            ["host"],
            registry=self.registry,
        )
        self.vault_lookup_seconds = Histogram(
            "encord_gateway_vault_lookup_seconds",
            "Time to look one credential up in the vault (in a worker thread, off the event loop).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.idempotent_replays = Counter(
            "encord_gateway_idempotent_replays_total",
            "Writes answered from an earlier call with the same request id, without calling Encord again.",
            ["grpc_service", "grpc_method"],
            registry=self.registry,
        )

        self.shared_cache_available = Gauge(
            "encord_gateway_cache_available",
            "1 while the cache can be used: always for the in-process cache; for the shared one, while Redis "
            "answers and this replica hears invalidations (0: reads go to Encord uncached).",
            registry=self.registry,
        )

        self.http_rejected = Counter(
            "encord_gateway_http_rejected_total",
            "REST requests refused before reaching a method (malformed HTTP, request line or headers too large), by reason.",
            ["reason"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
