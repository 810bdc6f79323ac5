"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas, checkov finds nothing in them or
the Dockerfile, the alert rules pass `promtool test rules`, and the dashboard and ConfigMap name only what
the gateway really exports and reads.

The tools are real and installed by `make test` (kubernetes-validate with its offline schemas from PyPI,
checkov in a virtual environment of its own, promtool from Debian's prometheus); a missing one FAILS.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from encord_gateway.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
SOURCE = ROOT / "service" / "encord_gateway"
SECRET_NAMES = re.compile(r"TOKEN|DSN|KEY|PASSWORD|SECRET")


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            (document,) = list(yaml.safe_load_all(path.read_text()))
            found[path.name] = document
    return found


def by_kind(kind: str) -> dict[str, Any]:
    (found,) = [m for m in manifests().values() if m["kind"] == kind]
    return found


@pytest.mark.parametrize("name", sorted(manifests()))
def test_each_manifest_validates_against_the_kubernetes_schemas(name: str) -> None:
    kubernetes_validate.validate(manifests()[name], KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_a_misspelled_field() -> None:
    broken = copy.deepcopy(by_kind("Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest_and_the_required_kinds_are_there() -> None:
    listed = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(manifests())
    kinds = {m["kind"] for m in manifests().values()}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy",
            "ServiceAccount", "ConfigMap"} <= kinds  # fmt: skip


def test_the_deployment_probes_the_metrics_port_runs_unprivileged_and_takes_secrets_by_reference() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # 503 while the vault is sealed
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "@sha256:" in container["image"]
    for variable in container.get("env", []):
        if SECRET_NAMES.search(variable["name"]):
            assert "secretKeyRef" in variable.get("valueFrom", {}), variable["name"]
    config = by_kind("ConfigMap")["data"]
    assert not [name for name in config if SECRET_NAMES.search(name.removeprefix("ENCORD_GATEWAY_"))]


def test_every_variable_the_manifests_set_is_one_the_gateway_reads() -> None:
    source = "\n".join(path.read_text() for path in SOURCE.rglob("*.py") if "_generated" not in path.parts)
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    names = [*by_kind("ConfigMap")["data"], *(v["name"] for v in pod["containers"][0].get("env", []))]
    for name in names:
        short = name.removeprefix("ENCORD_GATEWAY_")
        assert f'"{name}"' in source or f'"{short}"' in source, f"{name} is read nowhere in the gateway"


def test_checkov_finds_nothing_in_the_manifests_or_the_dockerfile() -> None:
    checkov = ROOT / ".venv" / "checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("checkov is not installed: `make test` installs it into .venv/checkov", pytrace=False)
    done = subprocess.run(
        [str(checkov), "--config-file", str(DEPLOY / "checkov.yaml"), "--directory", str(DEPLOY),
         "--framework", "kubernetes", "dockerfile", "--output", "json", "--quiet"],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(c["check_id"], c["file_path"], c["check_name"]) for r in reports for c in r["results"]["failed_checks"]]
    passed = sum(int(r["summary"]["passed"]) for r in reports)
    assert failed == [], failed
    assert passed > 50  # both frameworks really ran
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}


def test_the_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `make test` installs Debian's prometheus", pytrace=False)
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=DEPLOY / "prometheus",
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


def exported_series() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        kind = family.type
        if kind == "counter":
            names.add(family.name + "_total")
        if kind == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_the_dashboard_queries_only_series_the_gateway_exports() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "encord-gateway.json").read_text())
    exported = exported_series() | {"up"}
    keywords = {"sum", "by", "rate", "histogram_quantile", "le", "job", "grpc_service", "grpc_method", "grpc_code",
                "result", "api", "outcome", "query_type", "reason", "stage"}  # fmt: skip
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r'"[^"]*"|\[[^\]]*\]', "", target["expr"])  # no label values, no ranges
            used = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - keywords
            assert used <= exported, (panel["title"], used - exported)
