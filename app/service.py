"""What the lifespan builds: every model loaded into its pipeline, published in the registry, and
replaced in place when it is reloaded.

The digit model's runner (where its work runs) is chosen at each build: the upload child processes
when they start, else the server process. A reload builds the new pipeline beside the old one
(new children too), swaps it in at once, and closes the old one after its last request.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field

from app.loading import BuildError, Built, build, new_pool
from app.metrics import DigitObserver, Metrics
from app.pipelines.digit import DigitPipeline
from app.registry import Registry
from app.settings import Settings
from models.artifacts import PARAMS_NAME

logger = logging.getLogger(__name__)
MODEL_NAMES = ("boston", "mnist")


@dataclass
class Service:
    """The registry of models and the resources their pipelines hold; one per app."""

    settings: Settings
    metrics: Metrics
    registry: Registry = field(init=False)
    observer: DigitObserver = field(init=False)
    _reloading: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    _closing: set[asyncio.Task[None]] = field(init=False, default_factory=set)

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
        """Load, warm and publish each model; a failure leaves that model unavailable, logged."""
        for name in MODEL_NAMES:
            start = time.perf_counter()
            try:
                built = await self._build(name)
            except BuildError as exc:  # log which file and why, keep serving the rest
                self.registry.fail(name, exc.cause)
                self.registry.slots[name].loaded = exc.loaded  # its card is shown even so
                logger.error("model %s not loaded from %s: %s", name, self.settings.models_dir / name, exc)
                continue
            self._publish(name, built, time.perf_counter() - start)
            logger.info(
                "model %s %s ready in %.2f s", name, built.loaded.version, time.perf_counter() - start
            )

    async def _build(self, name: str) -> Built:
        pool = new_pool(self.settings, self.observer) if name == "mnist" else None
        if pool is not None:
            pool.launch()  # the children start (~0.3 s) while the network is exported
        return await build(name, self.settings, self.observer, pool)

    def _publish(self, name: str, built: Built, seconds: float) -> None:
        old = self.registry.slots[name].loaded
        if old is not None:
            self.metrics.model_info.labels(old.name, old.version, _sha(old.card)).set(0)
        self.registry.publish(name, built.pipeline, built.loaded, seconds, built.serving)
        self.metrics.model_info.labels(name, built.loaded.version, _sha(built.loaded.card)).set(1)

    async def reload(self, name: str) -> None:
        """Read `name`'s folder again and serve it; raises BuildError (the old version goes on serving)."""
        async with self._reloading:
            slot = self.registry.slots[name]
            before = slot.loaded
            start = time.perf_counter()
            try:
                built = await self._build(name)
            except BuildError as exc:
                self.metrics.reloads.labels(name, "failed").inc()
                logger.error("model %s reload failed, still serving %s: %s", name, _label(before), exc)
                raise
            old = slot.pipeline
            self._publish(name, built, time.perf_counter() - start)
            self.metrics.reloads.labels(name, "loaded").inc()
            logger.info(
                "model %s reloaded in %.2f s: %s -> %s",
                name, time.perf_counter() - start, _label(before), _label(built.loaded),
            )  # fmt: skip
            self._close_later(old)

    async def unload(self, name: str) -> None:
        """Stop serving `name` (its routes answer 503) until it is loaded again."""
        async with self._reloading:
            old = self.registry.unload(name)
            self.metrics.reloads.labels(name, "unloaded").inc()
            logger.info("model %s unloaded", name)
            self._close_later(old)

    async def reload_all(self) -> None:
        """Every model reloaded in turn (SIGHUP); a failure is logged and the others go on."""
        for name in MODEL_NAMES:
            try:
                await self.reload(name)
            except BuildError:
                continue

    def _close_later(self, pipeline: object) -> None:
        """Close a replaced pipeline once its requests are done (children, batcher thread), then free it."""
        task = asyncio.get_running_loop().create_task(self._retire(pipeline))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _retire(self, pipeline: object) -> None:
        """Close a replaced pipeline, then collect it and its cycles now.

        `main.GC_THRESHOLDS` make full collections all but never happen, and a build leaves reference
        cycles that hold memory (the export's Paddle programs and executor caches, the old children's
        pipes). Without this, 40 reloads of each model under digit traffic grew the server by 84 MB;
        with it by 26 MB. What remains, ~0.3 MB per digit reload, is `paddle.jit.save`'s own (objects
        Paddle's C++ side keeps). The collection takes 10-25 ms, once per reload.
        """
        if isinstance(pipeline, DigitPipeline):
            await pipeline.close(self._drain_s)
        del pipeline  # this frame's was the last reference
        start = time.perf_counter()
        found = gc.collect()
        seconds = time.perf_counter() - start
        logger.debug("collected %d objects in %.1f ms after a reload", found, 1e3 * seconds)

    @property
    def _drain_s(self) -> float:
        return self.settings.inference_timeout_s + 5.0  # no request waits in a queue longer

    async def close(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        digit = self.digit
        if digit is not None:
            await digit.runner.close()


def _sha(card: dict[str, object]) -> str:
    files = card.get("files", {})
    return str(files.get(PARAMS_NAME, "")) if isinstance(files, dict) else ""


def _label(loaded: object) -> str:
    """`version (sha256 abcdef123456)` of a loaded model, for the log."""
    card = getattr(loaded, "card", None)
    if not isinstance(card, dict):
        return "nothing"
    return f"{card.get('version')} (sha256 {_sha(card)[:12]})"
