"""What the lifespan builds and the routes use: loaded models, their status, the batcher, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.batching import MicroBatcher
from app.errors import ModelUnavailable
from app.inference import OnnxRuntimeBackend, probe_batch
from app.metrics import Metrics
from app.predictors.digit import DigitPredictor
from app.predictors.price import PricePredictor
from app.settings import Settings
from app.workers import ChildPool, Network
from models.artifacts import PARAMS_NAME, LoadedModel

logger = logging.getLogger(__name__)
MODEL_NAMES = ("boston", "mnist")


@dataclass
class ModelSlot:
    """One model's status: "loading", "ready" or "failed" (with the reason), and its card once read."""

    name: str
    status: str = "loading"
    error: str | None = None
    loaded: LoadedModel | None = None
    load_seconds: float | None = None


@dataclass
class ServiceState:
    """Everything built at start-up; one per app."""

    settings: Settings
    metrics: Metrics
    slots: dict[str, ModelSlot] = field(default_factory=lambda: {n: ModelSlot(n) for n in MODEL_NAMES})
    price: PricePredictor | None = None
    digit: DigitPredictor | None = None
    batcher: MicroBatcher | None = None
    pool: ChildPool | None = None
    _network: Network | None = None  # the digit network as the upload children can run it
    _stages: dict[str, Any] = field(default_factory=dict, repr=False)  # stage -> its histogram child

    @property
    def ready(self) -> bool:
        return all(s.status == "ready" for s in self.slots.values())

    def require_price(self) -> PricePredictor:
        if self.price is None:
            raise ModelUnavailable(self._why("boston"), headers={"Retry-After": "30"})
        return self.price

    def require_digit(self) -> tuple[DigitPredictor, MicroBatcher]:
        if self.digit is None or self.batcher is None:
            raise ModelUnavailable(self._why("mnist"), headers={"Retry-After": "30"})
        return self.digit, self.batcher

    def _public(self, message: str) -> str:
        """A load error as clients see it: the models folder's server path replaced by $MODELS_DIR."""
        root = str(self.settings.models_dir.resolve())
        return message.replace(root, "$MODELS_DIR").replace(str(self.settings.models_dir), "$MODELS_DIR")

    def _why(self, name: str) -> str:
        slot = self.slots[name]
        if slot.status == "failed":
            return f"model {name!r} is unavailable: {slot.error}"
        return f"model {name!r} is not loaded yet"

    async def load_all(self) -> None:
        """Load, warm and publish each model; a failure leaves that model unavailable, logged.

        The upload child processes start meanwhile (~0.3 s); readiness waits for them too.
        """
        pool = self._new_pool()
        if pool is not None:
            pool.launch()
        for name in MODEL_NAMES:
            slot = self.slots[name]
            start = time.perf_counter()
            try:
                await self._load(name)
            except Exception as exc:  # any failure: log which file and why, keep serving the rest
                slot.status, slot.error = "failed", self._public(str(exc))
                logger.error("model %s not loaded from %s: %s", name, self.settings.models_dir / name, exc)
                continue
            slot.status, slot.load_seconds = "ready", time.perf_counter() - start
            logger.info(
                "model %s %s ready in %.2f s",
                name,
                slot.loaded.version if slot.loaded else "?",
                slot.load_seconds,
            )
        if pool is not None:
            await self._start_pool(pool)

    def _new_pool(self) -> ChildPool | None:
        s = self.settings
        if s.prepare_processes == 0:
            return None
        return ChildPool(
            s.prepare_processes,
            s.max_image_pixels,
            s.batch_max_size,
            s.queue_limit,
            s.inference_timeout_s,
            observe=self.observe_stage,
            on_reject=self._rejected,
            on_batch=self._observe_batch,
        )

    async def _start_pool(self, pool: ChildPool) -> None:
        """Children ready (with the network when it is served by ONNX Runtime), or in-process preparation."""
        await pool.start(self._network)
        if not pool.available:
            return
        self.pool = pool
        loaded = self.slots["mnist"].loaded
        if loaded is not None and "serving" in loaded.card and pool.network is not None:
            where = f"{self.settings.prepare_processes} upload child process(es), each with its own session"
            loaded.card["serving"]["runs_in"] = where

    async def _load(self, name: str) -> None:
        from models.artifacts import load_model

        folder = self.settings.models_dir / name
        loaded = await asyncio.to_thread(load_model, folder)
        self.slots[name].loaded = loaded
        if name == "boston":
            price = PricePredictor(loaded)
            price.predict([list(price.feature_min)])  # warm-up
            self.price = price
        else:
            await self._load_digit(loaded)
        self._record_info(loaded)

    async def _load_digit(self, loaded: LoadedModel) -> None:
        from app.inference import create_digit_backend  # looked up here: tests substitute it

        s = self.settings
        backend = await asyncio.to_thread(create_digit_backend, loaded, s.inference_threads)
        if isinstance(backend, OnnxRuntimeBackend):  # the upload children can run it too
            probe = probe_batch()
            expected = await asyncio.to_thread(backend.predict_logits, probe)  # before anyone else calls it
            self._network = Network(backend.onnx_model, s.inference_threads, probe, expected)
        batcher = MicroBatcher(
            backend.predict_logits,
            s.batch_max_size,
            s.batch_max_wait_ms / 1000.0,
            s.queue_limit,
            s.inference_timeout_s,
            on_batch=self._observe_batch,
            on_reject=self._rejected,
        )
        self.metrics.queue_depth.set_function(lambda: self.queue_depth)
        if "serving" in loaded.card:
            loaded.card["serving"]["runs_in"] = "the server's inference thread"  # unless the children run it
        batcher.start()
        await batcher.submit(np.zeros((1, 1, 28, 28), np.float32))  # warm-up through the real path
        self.batcher, self.digit = batcher, DigitPredictor(loaded, s.max_image_pixels)

    def observe_stage(self, name: str, seconds: float) -> None:
        """How long one digit image spent in a stage: decode, preprocess or inference."""
        child = self._stages.get(name)
        if child is None:  # looked up once per stage, not per image; the series appears on first use
            child = self._stages[name] = self.metrics.stage.labels("mnist", name)
        child.observe(seconds)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.observe_stage("inference", seconds)

    def _rejected(self, reason: str) -> None:
        self.metrics.rejected.labels(reason).inc()

    def _record_info(self, loaded: LoadedModel) -> None:
        sha = str(loaded.card.get("files", {}).get(PARAMS_NAME, ""))
        self.metrics.model_info.labels(loaded.name, loaded.version, sha).set(1)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.stop()
        if self.batcher is not None:
            await self.batcher.stop()

    @property
    def queue_depth(self) -> int:
        """Digit images waiting or in work: in the upload children's queue and the micro-batcher's."""
        return (self.batcher.pending if self.batcher else 0) + (self.pool.pending if self.pool else 0)

    def health(self) -> dict[str, Any]:
        """Readiness with details, for /health and /readyz."""
        return {
            "status": "ready" if self.ready else "not_ready",
            "models": {
                n: {
                    "status": s.status,
                    "version": s.loaded.version if s.loaded else None,
                    "error": s.error,
                    "load_seconds": s.load_seconds,
                }
                for n, s in self.slots.items()
            },
            "queue_depth": self.queue_depth,
        }
