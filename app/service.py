"""What the lifespan builds: every model loaded into its pipeline, published in the registry.

The digit model's runner (where its work runs) is chosen here, once: the upload child processes
when they start, else the server process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from app.batching import MicroBatcher
from app.inference import OnnxRuntimeBackend, probe_batch
from app.metrics import DigitObserver, Metrics
from app.pipelines.digit import DigitPipeline
from app.pipelines.price import PricePipeline
from app.pipelines.runners import ChildRunner, InProcessRunner
from app.registry import Registry
from app.settings import Settings
from app.workers import ChildPool, Network
from models.artifacts import PARAMS_NAME, LoadedModel, load_model

logger = logging.getLogger(__name__)
MODEL_NAMES = ("boston", "mnist")
IN_SERVER = "the server's inference thread"


@dataclass
class Service:
    """The registry of models and the resources their pipelines hold; one per app."""

    settings: Settings
    metrics: Metrics
    registry: Registry = field(init=False)
    observer: DigitObserver = field(init=False)

    def __post_init__(self) -> None:
        self.registry = Registry(MODEL_NAMES, self.settings.models_dir)
        self.observer = DigitObserver(self.metrics)
        self.metrics.queue_depth.set_function(lambda: self.queue_depth)

    @property
    def digit(self) -> DigitPipeline | None:
        pipeline = self.registry.slots["mnist"].pipeline
        return pipeline if isinstance(pipeline, DigitPipeline) else None

    @property
    def queue_depth(self) -> int:
        """Digit images waiting or in work, in the upload children's queue and the micro-batcher's."""
        return self.digit.runner.pending if self.digit is not None else 0

    async def start(self) -> None:
        """Load, warm and publish each model; a failure leaves that model unavailable, logged.

        The upload child processes start meanwhile (~0.3 s); readiness waits for them too.
        """
        pool = self._new_pool()
        if pool is not None:
            pool.launch()
        for name in MODEL_NAMES:
            start = time.perf_counter()
            try:
                pipeline, loaded = await self._load(name, pool)
            except Exception as exc:  # any failure: log which file and why, keep serving the rest
                self.registry.fail(name, exc)
                logger.error("model %s not loaded from %s: %s", name, self.settings.models_dir / name, exc)
                continue
            self.registry.publish(name, pipeline, loaded, time.perf_counter() - start)
            sha = str(loaded.card.get("files", {}).get(PARAMS_NAME, ""))
            self.metrics.model_info.labels(loaded.name, loaded.version, sha).set(1)
            logger.info("model %s %s ready in %.2f s", name, loaded.version, time.perf_counter() - start)
        if pool is not None and self.digit is None:  # no digit model to serve: no children either
            await pool.stop()

    def _new_pool(self) -> ChildPool | None:
        s = self.settings
        if s.prepare_processes == 0:
            return None
        o = self.observer
        return ChildPool(
            s.prepare_processes,
            s.max_image_pixels,
            s.batch_max_size,
            s.queue_limit,
            s.inference_timeout_s,
            observe=o.stage,
            on_reject=o.rejected,
            on_batch=o.batch,
        )

    async def _load(self, name: str, pool: ChildPool | None) -> tuple[object, LoadedModel]:
        loaded = await asyncio.to_thread(load_model, self.settings.models_dir / name)
        self.registry.slots[name].loaded = loaded  # the card is shown even if serving it fails
        if name == "boston":
            return PricePipeline(loaded, self.settings.max_price_batch), loaded
        return await self._digit_pipeline(loaded, pool), loaded

    async def _digit_pipeline(self, loaded: LoadedModel, pool: ChildPool | None) -> DigitPipeline:
        from app.inference import create_digit_backend  # looked up here: tests substitute it

        s = self.settings
        backend, serving = await asyncio.to_thread(create_digit_backend, loaded, s.inference_threads)
        self.registry.slots["mnist"].serving = serving
        serving["runs_in"] = IN_SERVER
        batcher = MicroBatcher(
            backend.predict_logits,
            s.batch_max_size,
            s.batch_max_wait_ms / 1000.0,
            s.queue_limit,
            s.inference_timeout_s,
            on_batch=self.observer.batch,
            on_reject=self.observer.rejected,
        )
        batcher.start()
        await batcher.submit(np.zeros((1, 1, 28, 28), np.float32))  # warm-up through the real path
        local = InProcessRunner(batcher, s.max_image_pixels, self.observer)
        if pool is None:
            return DigitPipeline(loaded, local)
        network = None
        if isinstance(backend, OnnxRuntimeBackend):  # the upload children can run it too
            probe = probe_batch()
            expected = await asyncio.to_thread(backend.predict_logits, probe)  # before anyone else calls it
            network = Network(backend.onnx_model, s.inference_threads, probe, expected)
        await pool.start(network)
        if not pool.available:
            return DigitPipeline(loaded, local)
        if pool.network is not None:
            serving["runs_in"] = f"{s.prepare_processes} upload child process(es), each with its own session"
        return DigitPipeline(loaded, ChildRunner(pool, local))

    async def close(self) -> None:
        digit = self.digit
        if digit is not None:
            await digit.runner.close()
