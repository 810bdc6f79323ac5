"""deploy/prometheus: every alert is complete and uses only series and labels a running gateway exports.

The names are checked against the session gateway's real /metrics after calls that make every series
appear, so a renamed metric or label breaks this test rather than silently disabling an alert.
(`promtool check rules` / `promtool test rules` validate syntax and behaviour where Prometheus is
installed; see deploy/README.md.)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import yaml
from encord_gateway._generated.encord.gateway.v1 import projects_pb2
from encord_gateway.config import Settings
from encord_gateway.upstream.errors import HTTP_STATUSES, V1_CODES
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import GatewayProcess, Stubs

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
JOB = "encord-gateway"
PROMETHEUS_OWN = {"up": {"job", "instance"}}  # series Prometheus makes itself, not the gateway
TARGET_LABELS = {"job", "instance"}  # added to every scraped series
SEVERITIES = {"critical", "warning"}
# Codes a caller causes; the error-ratio alert must leave exactly these out (and OK).
CALLER_CODES = {"CANCELLED", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
                "UNAUTHENTICATED", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED"}  # fmt: skip
# Encord answers about the caller's request rather than Encord failing (by the gRPC code they map to).
CALLER_UPSTREAM_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                         grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.PERMISSION_DENIED}  # fmt: skip

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                   "group_right", "inf", "nan"}  # fmt: skip
IDENTIFIER = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SELECTOR = re.compile(rf"({IDENTIFIER})?\s*\{{([^}}]*)\}}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def load(name: str) -> Any:
    return yaml.safe_load((PROMETHEUS / name).read_text())


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"] if "alert" in rule]


def alert(name: str) -> dict[str, Any]:
    (found,) = (rule for rule in alerts() if rule["alert"] == name)
    return found


def matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """Every label matcher in `expr`: (metric name, or "" for a bare selector; label; operator; value)."""
    return [
        (metric, label, operator, value)
        for metric, body in SELECTOR.findall(expr)
        for label, operator, value in MATCHER.findall(body)
    ]


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects: what is left once strings, matchers, groupings,
    ranges, numbers, functions and keywords are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    names = set()
    for match in re.finditer(rf"(?<![\w.]){IDENTIFIER}", text):
        word = match.group(0)
        follows = text[match.end() :].lstrip()
        if follows.startswith("(") or word.lower() in PROMQL_KEYWORDS:
            continue  # a function call or an operator
        names.add(word)
    return names


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for _, labels in GROUPING.findall(expr) for label in labels.split(",") if label.strip()}


@pytest.fixture(scope="module")
def exported(gateway: GatewayProcess, stubs: Stubs, make_title: Callable[[str], str]) -> dict[str, set[str]]:
    """Sample name → label names on the session gateway, after calls that make every series exist:
    a write, a cache miss and hit, an upstream NOT_FOUND, an unauthenticated call."""
    md = gateway.auth_metadata
    created = stubs.projects.CreateProject(projects_pb2.CreateProjectRequest(title=make_title("deploy")), metadata=md)
    for _ in range(2):
        stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=created.project_hash), metadata=md)
    with pytest.raises(grpc.RpcError):
        stubs.projects.GetProject(projects_pb2.GetProjectRequest(project_hash=str(uuid.uuid4())), metadata=md)
    with pytest.raises(grpc.RpcError):
        stubs.projects.ListProjects(projects_pb2.ListProjectsRequest(), metadata=(("authorization", "Bearer nope"),))

    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(gateway.metrics()):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def test_the_rule_file_holds_the_alerts_an_operator_needs() -> None:
    names = {rule["alert"] for rule in alerts()}
    assert {
        "EncordGatewayDown",
        "EncordGatewayVaultSealed",
        "EncordGatewayHighErrorRatio",
        "EncordUpstreamErrors",
        "EncordGatewayHighLatency",
        "EncordGatewayAuthFailures",
    } <= names
    assert len(names) == len(alerts()), "alert names must be unique"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_duration_a_severity_and_a_summary(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]
    assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]
    assert rule.get("annotations", {}).get("summary", "").strip(), rule["alert"]
    assert rule.get("annotations", {}).get("description", "").strip(), rule["alert"]


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_every_series_and_label_an_alert_uses_is_exported_by_a_running_gateway(
    rule: dict[str, Any], exported: dict[str, set[str]]
) -> None:
    expr = rule["expr"]
    known = {**exported, **PROMETHEUS_OWN}
    used = metric_names(expr)
    assert used, f"no series found in {expr!r}"
    missing = used - set(known)
    assert not missing, f"{rule['alert']} uses series the gateway does not export: {sorted(missing)}"

    for metric, label, _, value in matchers(expr):
        assert metric in known, (rule["alert"], metric)
        assert label in known[metric] | TARGET_LABELS, f"{rule['alert']}: {metric} has no label {label!r}"
        if label == "job":
            assert value == JOB, f"{rule['alert']} selects job {value!r}; scrape.yml names it {JOB!r}"
        if label == "grpc_code":
            codes = {code.name for code in grpc.StatusCode}
            assert set(value.split("|")) <= codes, f"{rule['alert']}: not gRPC code names: {value}"

    available = set().union(*(known[name] for name in used)) | TARGET_LABELS
    assert grouping_labels(expr) <= available, f"{rule['alert']} groups by labels its series lack"


def test_the_error_ratio_leaves_out_exactly_the_codes_a_caller_causes() -> None:
    excluded = {
        value
        for _, label, operator, value in matchers(alert("EncordGatewayHighErrorRatio")["expr"])
        if label == "grpc_code" and operator == "!~"
    }
    assert len(excluded) == 1
    assert set(excluded.pop().split("|")) == CALLER_CODES | {"OK"}


def test_the_upstream_error_alert_leaves_out_exactly_the_reasons_about_the_callers_request() -> None:
    """Kept in step with upstream/errors.py: a new reason mapped to a caller's code must be excluded too."""
    reasons = {code: status for code, status in V1_CODES.items()}
    reasons.update({row.reason: row.code for row in HTTP_STATUSES.values()})
    reasons.update(
        {"UPSTREAM_TIMEOUT": grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNREACHABLE": grpc.StatusCode.UNAVAILABLE}
    )
    reasons["UPSTREAM_MALFORMED_RESPONSE"] = grpc.StatusCode.UNAVAILABLE
    reasons["UPSTREAM_RESPONSE_TOO_LARGE"] = grpc.StatusCode.RESOURCE_EXHAUSTED
    reasons["UNRECOGNISED_UPSTREAM_ERROR"] = grpc.StatusCode.UNKNOWN

    (pattern,) = (
        value
        for _, label, operator, value in matchers(alert("EncordUpstreamErrors")["expr"])
        if label == "outcome" and operator == "!~"
    )
    for reason, status in reasons.items():
        left_out = re.fullmatch(pattern, reason) is not None
        assert left_out == (status in CALLER_UPSTREAM_CODES), f"{reason} ({status.name}) left out: {left_out}"


def test_the_scrape_config_targets_the_metrics_port_with_the_job_the_alerts_select() -> None:
    config = load("scrape.yml")
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    assert job["metrics_path"] == "/metrics"
    targets = [target for group in job["static_configs"] for target in group["targets"]]
    assert targets == [f"127.0.0.1:{Settings().metrics_port}"]


def test_the_promql_scanner_finds_names_and_skips_functions_labels_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job="x", code!~"A|B"}[5m]))) > 2.5 '
        "and on (job) sum without (le) (b_total offset 5m) / ignoring(x) c unless absent(up == 1)"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c", "up"}
    assert grouping_labels(expr) == {"job", "le", "x"}
    assert matchers(expr) == [("a_bucket", "job", "=", "x"), ("a_bucket", "code", "!~", "A|B")]
