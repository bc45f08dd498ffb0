"""schemathesis against the v2 routes with the Open Inference Protocol's own OpenAPI file.

The protocol's data-plane OpenAPI ships in MLServer's wheel (`mlserver/rest/openapi/dataplane.json`);
the test set-up downloads that wheel from PyPI once (no dependencies, nothing installed) and reads
the file. Checks: no 5xx, and every response conforms to the protocol's schemas.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.live_server import REPO, LiveServer

MLSERVER = "mlserver==1.7.1"
MEMBER = "mlserver/rest/openapi/dataplane.json"
CACHE = REPO / ".cache" / "open-inference"
ROUTES = r"^/v2(/health/(live|ready)|/models/\{model_name\}(/versions/\{model_version\})?(/ready|/infer)?)?$"


def dataplane_spec() -> Path:
    """The protocol's OpenAPI file, from MLServer's wheel (downloaded once into .cache)."""
    spec = CACHE / "dataplane.json"
    if spec.exists():
        return spec
    CACHE.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", MLSERVER, "-d", str(CACHE)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    wheel = next(CACHE.glob("mlserver-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        spec.write_bytes(archive.read(MEMBER))
    return spec


def adapted(spec: dict[str, Any], versions: dict[str, str]) -> dict[str, Any]:
    """The spec with its one invalid type fixed and the path parameters drawn from this server's models.

    `TensorData` is `oneOf: [array, "bytes"]`; "bytes" is no JSON Schema type (schemathesis refuses
    the operation): it stands for a string. Random model names would only ever test the 404.
    """
    spec["components"]["schemas"]["TensorData"]["oneOf"] = [{"type": "array"}, {"type": "string"}]
    for path in spec["paths"].values():
        for parameter in path.get("parameters", []):
            if parameter["name"] == "model_name":
                parameter["schema"] = {"type": "string", "enum": sorted(versions)}
            elif parameter["name"] == "model_version":
                parameter["schema"] = {"type": "string", "enum": sorted(set(versions.values()))}
    return spec


def test_v2_routes_conform_to_the_protocols_openapi(tmp_path: Path) -> None:
    try:
        spec = json.loads(dataplane_spec().read_text())
    except (subprocess.SubprocessError, OSError, StopIteration) as exc:
        pytest.fail(f"could not get the protocol's OpenAPI file from {MLSERVER}: {exc}")
    assert spec["info"]["title"] == "Data Plane"
    with LiveServer() as server:
        models = {
            n: httpx.get(f"{server.url}/v2/models/{n}").json()["versions"][0] for n in ("boston", "mnist")
        }
        schema = tmp_path / "dataplane.json"
        schema.write_text(json.dumps(adapted(spec, models)))
        cmd = [sys.executable, "scripts/fuzz.py", "--url", server.url, "--schema", str(schema)]
        cmd += ["--include-path-regex", ROUTES, "--phases", "examples,fuzzing", "--max-examples", "30"]
        cmd += ["--checks", "not_a_server_error,response_schema_conformance"]
        cmd += ["--min-cases", "100", "--report-dir", str(tmp_path / "report")]
        run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        out = run.stdout[-6000:] + run.stderr[-3000:]
        assert run.returncode == 0, out
        report = json.loads((tmp_path / "report" / "report.json").read_text())
        assert report["operations"]["tested"] == 9 and not report["operations"]["errored"], out
        assert report["test_cases"]["with_failures"] == 0, out
        assert "Traceback" not in server.log()
