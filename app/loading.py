"""Building a model's pipeline from its folder: read and verify it, choose and warm the backend.

Used at start-up and for every reload (`app.service`). A build that fails releases what it had
started (the micro-batcher's thread, upload child processes) and raises `BuildError`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.batching import MicroBatcher
from app.inference import OnnxRuntimeBackend, probe_batch
from app.metrics import DigitObserver
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.pipelines.runners import ChildRunner, InProcessRunner
from app.settings import Settings
from app.workers import ChildPool, Network
from models.artifacts import LoadedModel, load_model

IN_SERVER = "the server's inference thread"


class BuildError(Exception):
    """Raised when a model folder cannot be served; `loaded` is its card when it could be read."""

    def __init__(self, cause: BaseException, loaded: LoadedModel | None) -> None:
        super().__init__(str(cause))
        self.cause, self.loaded = cause, loaded


@dataclass
class Built:
    """A pipeline ready to serve, the verified folder it came from, and how it is served."""

    pipeline: PricePipeline | DigitPipeline
    loaded: LoadedModel
    serving: dict[str, Any] | None = field(default=None)


def new_pool(settings: Settings, observer: DigitObserver) -> ChildPool | None:
    """The upload child processes the settings ask for (not started), or None."""
    s = settings
    if s.prepare_processes == 0:
        return None
    return ChildPool(
        s.prepare_processes,
        s.max_image_pixels,
        s.batch_max_size,
        s.queue_limit,
        s.inference_timeout_s,
        observe=observer.stage,
        on_reject=observer.rejected,
        on_batch=observer.batch,
    )


async def build(name: str, settings: Settings, observer: DigitObserver, pool: ChildPool | None) -> Built:
    """`name`'s folder verified and served: a price pipeline, or a digit pipeline on `pool` if given."""
    loaded = None
    try:
        loaded = await asyncio.to_thread(load_model, settings.models_dir / name)
        if name == "boston":
            return Built(PricePipeline(loaded, settings.max_price_batch), loaded)
        pipeline, serving = await _digit(loaded, settings, observer, pool)
        return Built(pipeline, loaded, serving)
    except Exception as exc:
        if pool is not None:
            await pool.stop()
        raise BuildError(exc, loaded) from exc


async def _digit(
    loaded: LoadedModel, s: Settings, observer: DigitObserver, pool: ChildPool | None
) -> tuple[DigitPipeline, dict[str, Any]]:
    from app.inference import create_digit_backend  # looked up here: tests substitute it

    backend, serving = await asyncio.to_thread(create_digit_backend, loaded, s.inference_threads)
    serving["runs_in"] = IN_SERVER
    batcher = MicroBatcher(
        backend.predict_logits,
        s.batch_max_size,
        s.batch_max_wait_ms / 1000.0,
        s.queue_limit,
        s.inference_timeout_s,
        on_batch=observer.batch,
        on_reject=observer.rejected,
    )
    batcher.start()
    try:
        await batcher.submit(np.zeros((1, 1, 28, 28), np.float32))  # warm-up through the real path
        local = InProcessRunner(batcher, s.max_image_pixels, observer)
        if pool is None:
            return DigitPipeline(loaded, local, observer), serving
        await pool.start(await _network(backend, s.inference_threads))
    except BaseException:
        await batcher.stop()
        raise
    if not pool.available:
        return DigitPipeline(loaded, local, observer), serving
    if pool.network is not None:
        serving["runs_in"] = f"{s.prepare_processes} upload child process(es), each with its own session"
    return DigitPipeline(loaded, ChildRunner(pool, local), observer), serving


async def _network(backend: object, threads: int) -> Network | None:
    """What the upload children need to run the network too (ONNX Runtime only), with its probe answer."""
    if not isinstance(backend, OnnxRuntimeBackend):
        return None
    probe = probe_batch()
    expected = await asyncio.to_thread(backend.predict_logits, probe)  # before anyone else calls it
    return Network(backend.onnx_model, threads, probe, expected)
