"""An MLServer model repository of the committed models, and MLServer's own virtual environment.

`write_repository(models_dir, out, port)` exports (in this, the project's environment, which has
paddle) what `bench.mlserver_runtime` loads: Boston's weights and scaling as .npz, the digit
network converted to ONNX exactly as the service converts it, its calibration temperature; plus
MLServer's settings.json and one model-settings.json per model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from models.artifacts import load_model
from models.features import MinMaxScaling
from scripts.venvs import isolated_venv

MLSERVER = "mlserver==1.7.1"
# What the service's preprocessing and backend import; uvloop 0.22 changed get_event_loop(), which
# MLServer 1.7.1's inference workers call at start ("There is no current event loop").
EXTRA = ("scipy", "pillow", "onnxruntime", "uvloop<0.22")


def mlserver_command() -> Path:
    """The `mlserver` command of MLServer's virtual environment, made on first use (a minute or two)."""
    return isolated_venv(MLSERVER, *EXTRA) / "bin" / "mlserver"


def export(models_dir: Path, out: Path) -> None:
    """The exported files the runtimes load."""
    from app.inference import export_network, fresh_copy, to_onnx

    boston = load_model(models_dir / "boston")
    state = boston.network.state_dict()
    scaling = MinMaxScaling.from_card(boston.card["normalization"])
    np.savez(
        out / "boston.npz",
        weight=state["fc.weight"].numpy(),
        bias=state["fc.bias"].numpy().reshape(-1)[0],
        minimum=np.array(scaling.minimum),
        maximum=np.array(scaling.maximum),
    )
    mnist = load_model(models_dir / "mnist")
    with tempfile.TemporaryDirectory() as tmp:
        (out / "mnist.onnx").write_bytes(to_onnx(export_network(fresh_copy(mnist), Path(tmp))))
    (out / "mnist.json").write_text(json.dumps({"temperature": mnist.temperature}))


def write_repository(models_dir: Path, out: Path, ports: tuple[int, int, int]) -> Path:
    """A folder `mlserver start` serves: both models; HTTP, gRPC and metrics on `ports`."""
    out.mkdir(parents=True, exist_ok=True)
    export(models_dir, out)
    http, grpc, metrics = ports
    settings = {"http_port": http, "grpc_port": grpc, "metrics_port": metrics, "debug": False}
    (out / "settings.json").write_text(json.dumps(settings))
    for name, runtime in (("boston", "BostonRuntime"), ("mnist", "MnistRuntime")):
        folder = out / name
        folder.mkdir(exist_ok=True)
        spec = {
            "name": name,
            "implementation": f"bench.mlserver_runtime.{runtime}",
            "parameters": {"uri": str(out)},
        }
        (folder / "model-settings.json").write_text(json.dumps(spec))
    return out
