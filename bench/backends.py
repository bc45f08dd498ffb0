"""Time every inference path for both networks at batch 1, 8 and 64 and check its answers.

A path is correct when the answer the service returns (the price; the digit's softmax
probabilities) is within 1e-5 of dygraph eval mode's, absolute, and every argmax agrees.
Raw output differences are reported too. Prints a table and writes JSON. Random weights
unless --mnist-dir names a trained folder.

    python -m bench.backends                 # ~2 minutes
    python -m bench.backends --quick         # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore", message="No ccache found")

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from models.networks import DigitNet, Regressor  # noqa: E402

Run = Callable[[np.ndarray], np.ndarray]
TOLERANCE = 1e-5
DEFAULT_OUT = Path("bench/results/backends.json")


@dataclass
class Row:
    """One measured (network, backend, batch) case."""

    network: str
    backend: str
    batch: int
    median_ms: float
    p90_ms: float
    per_sample_us: float
    max_abs_diff: float  # raw outputs (logits for digits)
    answer_diff: float  # what the service returns: price, or softmax probabilities
    correct: bool
    calls: int


def digit_network(mnist_dir: Path | None) -> paddle.nn.Layer:
    """The trained DigitNet from a model folder, or a seeded random one with non-trivial BatchNorm stats."""
    if mnist_dir is not None:
        from models.artifacts import load_model

        return load_model(mnist_dir).network
    paddle.seed(0)
    network = DigitNet()
    rng = np.random.default_rng(0)
    state = network.state_dict()
    for name, value in state.items():
        if name.endswith("_mean"):
            value.set_value(rng.normal(0, 0.1, value.shape).astype("float32"))
        elif name.endswith("_variance"):
            value.set_value(rng.uniform(0.5, 1.5, value.shape).astype("float32"))
    network.eval()
    return network


def dygraph_run(network: paddle.nn.Layer) -> Run:
    def run(x: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            return network(paddle.to_tensor(x)).numpy()

    return run


def to_static_run(network: paddle.nn.Layer, shape: list[int | None]) -> Run:
    spec = [paddle.static.InputSpec(shape, "float32", "x")]
    static = paddle.jit.to_static(network, input_spec=spec, full_graph=True)
    return dygraph_run(static)


def export(network: paddle.nn.Layer, shape: list[int | None], folder: Path) -> Path:
    """jit.save the network into `folder`; returns the path prefix (prefix.json + prefix.pdiparams)."""
    prefix = folder / "inference"
    spec = [paddle.static.InputSpec(shape, "float32", "x")]
    paddle.jit.save(network, str(prefix), input_spec=spec)
    return prefix


def jit_load_run(prefix: Path) -> Run:
    layer = paddle.jit.load(str(prefix))
    layer.eval()
    return dygraph_run(layer)


def predictor_run(prefix: Path, onednn: bool, threads: int) -> Run:
    config = paddle.inference.Config(f"{prefix}.json", f"{prefix}.pdiparams")
    config.disable_glog_info()
    if onednn:
        config.enable_onednn()
    else:
        config.disable_onednn()
    config.set_cpu_math_library_num_threads(threads)
    predictor = paddle.inference.create_predictor(config)
    x_handle = predictor.get_input_handle(predictor.get_input_names()[0])
    y_handle = predictor.get_output_handle(predictor.get_output_names()[0])

    def run(x: np.ndarray) -> np.ndarray:
        x_handle.reshape(x.shape)
        x_handle.copy_from_cpu(x)
        predictor.run()
        return y_handle.copy_to_cpu()

    return run


def onnx_run(prefix: Path, threads: int) -> Run | None:
    """ONNX Runtime on the exported model, or None when paddle2onnx/onnxruntime are not installed."""
    try:
        import onnxruntime as ort
        import paddle2onnx
    except ImportError:
        return None
    ort.set_default_logger_severity(3)
    onnx_path = prefix.with_suffix(".onnx")
    paddle2onnx.export(f"{prefix}.json", f"{prefix}.pdiparams", str(onnx_path), verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    return run


def numpy_run(network: Regressor) -> Run:
    weight = network.fc.weight.numpy()  # (13, 1): paddle stores Linear weights as (in, out)
    bias = network.fc.bias.numpy()

    def run(x: np.ndarray) -> np.ndarray:
        return x @ weight + bias

    return run


def backends(network: paddle.nn.Layer, shape: list[int | None], folder: Path) -> dict[str, Run]:
    """Every path for `network`, keyed by a short name; dygraph first (the reference)."""
    prefix = export(network, shape, folder)
    runs: dict[str, Run] = {"dygraph": dygraph_run(network)}
    if isinstance(network, Regressor):
        runs["numpy"] = numpy_run(network)
    runs["to_static"] = to_static_run(network, shape)
    runs["jit.load"] = jit_load_run(prefix)
    for onednn in (True, False):
        for threads in (1, 2):
            runs[f"predictor onednn={'on' if onednn else 'off'} t={threads}"] = predictor_run(
                prefix, onednn, threads
            )
    for threads in (1, 2):
        run = onnx_run(prefix, threads)
        if run is not None:
            runs[f"onnxruntime t={threads}"] = run
    return runs


def time_calls(run: Run, x: np.ndarray, budget_s: float, max_calls: int) -> list[float]:
    """Per-call wall times in seconds, after 3 warm-up calls, until the budget or max_calls is spent."""
    for _ in range(3):
        run(x)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_calls and (time.perf_counter() - start < budget_s or len(times) < 5):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return times


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def compare(name: str, out: np.ndarray, reference: np.ndarray) -> tuple[float, float, bool]:
    """(max raw difference, max answer difference, correct) of `out` against the dygraph output."""
    out = np.asarray(out).reshape(reference.shape)
    raw = float(np.max(np.abs(out - reference)))
    if name != "digit":
        return raw, raw, raw <= TOLERANCE
    answer = float(np.max(np.abs(softmax(out) - softmax(reference))))
    same_class = bool(np.all(out.argmax(axis=1) == reference.argmax(axis=1)))
    return raw, answer, answer <= TOLERANCE and same_class


def measure(
    name: str, runs: dict[str, Run], inputs: dict[int, np.ndarray], budget_s: float, max_calls: int
) -> list[Row]:
    """Time every path at every batch size and compare its answer with dygraph's."""
    rows = []
    for batch, x in inputs.items():
        reference = runs["dygraph"](x)
        for backend, run in runs.items():
            raw, answer, correct = compare(name, run(x), reference)
            times = sorted(time_calls(run, x, budget_s, max_calls))
            median = statistics.median(times)
            rows.append(
                Row(
                    network=name,
                    backend=backend,
                    batch=batch,
                    median_ms=round(median * 1e3, 4),
                    p90_ms=round(times[int(0.9 * (len(times) - 1))] * 1e3, 4),
                    per_sample_us=round(median * 1e6 / batch, 2),
                    max_abs_diff=raw,
                    answer_diff=answer,
                    correct=correct,
                    calls=len(times),
                )
            )
    return rows


def print_table(rows: list[Row]) -> None:
    header = f"{'network':<10}{'backend':<28}{'batch':>6}{'median ms':>11}{'p90 ms':>10}"
    print(header + f"{'us/sample':>11}{'raw diff':>10}{'answer diff':>12}  ok")
    for r in rows:
        print(
            f"{r.network:<10}{r.backend:<28}{r.batch:>6}{r.median_ms:>11.3f}{r.p90_ms:>10.3f}"
            f"{r.per_sample_us:>11.1f}{r.max_abs_diff:>10.1e}{r.answer_diff:>12.1e}"
            f"  {'yes' if r.correct else 'NO'}"
        )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "python": platform.python_version(),
        "paddle": paddle.__version__,
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few calls per case (smoke test)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of timed calls per case")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--mnist-dir", type=Path, default=None, help="a trained model folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    budget, max_calls = (0.05, 10) if args.quick else (args.budget, 5000)
    rng = np.random.default_rng(1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        paddle.seed(0)
        price = Regressor()
        price.eval()
        price_inputs = {b: rng.random((b, 13), dtype=np.float32) for b in args.batches}
        price_runs = backends(price, [None, 13], Path(tmp, "price").resolve())
        rows += measure("price", price_runs, price_inputs, budget, max_calls)
        digit = digit_network(args.mnist_dir)
        digit_inputs = {b: rng.normal(0, 1, (b, 1, 28, 28)).astype(np.float32) for b in args.batches}
        digit_runs = backends(digit, [None, 1, 28, 28], Path(tmp, "digit").resolve())
        rows += measure("digit", digit_runs, digit_inputs, budget, max_calls)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "tolerance": TOLERANCE, "rows": [asdict(r) for r in rows]}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r.correct for r in rows if r.backend == "dygraph") else 1


if __name__ == "__main__":
    sys.exit(main())
