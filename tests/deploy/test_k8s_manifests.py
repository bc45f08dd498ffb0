"""deploy/k8s: schema-valid offline (kubernetes-validate's bundled schemas) and consistent."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
K8S_VERSION = "1.30.0"  # a widely deployed release; the schemas ship inside the package


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _by_kind(kind: str) -> dict[str, Any]:
    found = [doc for doc in _documents() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _container() -> dict[str, Any]:
    containers = _by_kind("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.mark.parametrize("doc", _documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_matches_the_kubernetes_schema_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    doc = _by_kind("Deployment")
    doc["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_expected_kinds_are_all_there() -> None:
    kinds = sorted(doc["kind"] for doc in _documents())
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


def test_probes_hit_the_health_routes_on_the_probe_port() -> None:
    container = _container()
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "probes"}
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "probes", "containerPort": 8081, "protocol": "TCP"},
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PADDLE_SERVE_PROBE_PORT"] == "8081"  # the port the probes name is the one served


def test_resources_have_requests_within_limits() -> None:
    resources = _container()["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert resources["requests"]["memory"] == "512Mi" and resources["limits"]["memory"] == "1Gi"


def test_container_runs_locked_down() -> None:
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    context = _container()["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert context == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m for m in _container()["volumeMounts"]}
    assert set(mounts) == {"/tmp", "/run/secrets/paddle-serve"}
    assert mounts["/run/secrets/paddle-serve"]["readOnly"] is True


def test_the_admin_token_comes_from_a_secret_file() -> None:
    pod = _by_kind("Deployment")["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in _container()["env"]}
    mount = next(m for m in _container()["volumeMounts"] if m["mountPath"] == "/run/secrets/paddle-serve")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert env["PADDLE_SERVE_ADMIN_TOKEN_FILE"] == f"{mount['mountPath']}/admin-token"
    assert "PADDLE_SERVE_ADMIN_TOKEN" not in env  # never the token itself in the manifest
    assert volume["secret"]["secretName"] == "paddle-serve-tokens"
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 10001


def test_service_and_hpa_point_at_the_deployment() -> None:
    deployment = _by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _by_kind("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    target = _by_kind("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    budget = _by_kind("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
