"""deploy/kserve/inferenceservice.yaml: valid against KServe's own models of its resources, and v2.

The structural check runs tests/deploy/kserve_validate.py in KServe's virtual environment
(tests/kserve_venv.py); the rest reads the YAML here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.live_server import REPO
from tests.kserve_venv import KSERVE, kserve_python

MANIFEST = REPO / "deploy" / "kserve" / "inferenceservice.yaml"
VALIDATE = Path(__file__).with_name("kserve_validate.py")


def documents() -> dict[str, Any]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    try:
        python = kserve_python()
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.fail(f"could not install {KSERVE}: {exc}")
    return subprocess.run(
        [str(python), str(VALIDATE), str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_manifest_fits_kserves_models_and_a_broken_one_does_not(tmp_path: Path) -> None:
    run = validate(MANIFEST)
    assert run.returncode == 0 and "2 documents, 0 problems" in run.stdout, run.stdout + run.stderr
    docs = documents()
    docs["InferenceService"]["spec"]["predictor"]["model"]["protocolVersoin"] = "v2"
    docs["ServingRuntime"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump_all(list(docs.values())))
    run = validate(broken)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "protocolVersoin: not a field of V1beta1ModelSpec" in run.stdout
    assert "containerPort: expected int" in run.stdout


def test_the_predictor_is_this_image_speaking_v2_with_the_locked_down_context() -> None:
    docs = documents()
    model = docs["InferenceService"]["spec"]["predictor"]["model"]
    runtime = docs["ServingRuntime"]
    assert model["protocolVersion"] == "v2" and model["runtime"] == runtime["metadata"]["name"]
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container" and container["image"].startswith("paddle-serve")
    assert container["ports"][0]["containerPort"] == 8000
    env = {e["name"]: e["value"] for e in container["env"]}
    probe_port = int(env["PADDLE_SERVE_PROBE_PORT"])
    for probe, path in [("livenessProbe", "/v2/health/live"), ("readinessProbe", "/v2/health/ready")]:
        assert container[probe]["httpGet"] == {"path": path, "port": probe_port}
    k8s = yaml.safe_load((REPO / "deploy" / "k8s" / "deployment.yaml").read_text())["spec"]["template"][
        "spec"
    ]
    pod = {k: v for k, v in k8s["securityContext"].items() if k != "fsGroup"}  # pod-level only
    locked = {**pod, **k8s["containers"][0]["securityContext"]}
    assert container["securityContext"] == locked
    assert container["resources"] == k8s["containers"][0]["resources"] == model["resources"]
