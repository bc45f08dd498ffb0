"""The models the service knows: each one's status, verified card, serving facts and pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from app.errors import ModelUnavailable
from models.artifacts import LoadedModel

P = TypeVar("P")


@dataclass
class ModelSlot:
    """One model: "loading", "ready" or "failed" (with the reason); its card and pipeline once loaded.

    `serving` says how the model is served (backend, where it runs). It sits beside the card, which
    stays exactly the hash-verified file.
    """

    name: str
    status: str = "loading"
    error: str | None = None
    loaded: LoadedModel | None = None
    load_seconds: float | None = None
    serving: dict[str, Any] | None = None
    pipeline: object | None = None
    loaded_at: float | None = None  # time.time() of the last successful load


class Registry:
    """The slots of every model, by name, in the order they load."""

    def __init__(self, names: tuple[str, ...], models_dir: Path) -> None:
        self.slots = {name: ModelSlot(name) for name in names}
        self._models_dir = models_dir

    @property
    def ready(self) -> bool:
        return all(s.status == "ready" for s in self.slots.values())

    def pipeline(self, name: str, kind: type[P]) -> P:
        """The ready pipeline of `name`; raises ModelUnavailable (503) while it is not."""
        pipeline = self.slots[name].pipeline
        if not isinstance(pipeline, kind):
            raise ModelUnavailable(self.why(name), headers={"Retry-After": "30"})
        return pipeline

    @contextmanager
    def lease(self, name: str, kind: type[P]) -> Iterator[P]:
        """The pipeline of `name` for one request: a reload replaces it, but closes it only after
        every lease taken on it is given back, so a request ends on the version it started on."""
        pipeline: Any = self.pipeline(name, kind)
        pipeline.active += 1
        try:
            yield pipeline
        finally:
            pipeline.active -= 1

    def why(self, name: str) -> str:
        """Why `name` cannot answer, as a client reads it."""
        slot = self.slots[name]
        if slot.status in ("failed", "unloaded"):
            return f"model {name!r} is unavailable: {slot.error}"
        return f"model {name!r} is not loaded yet"

    def publish(
        self, name: str, pipeline: object, loaded: LoadedModel, seconds: float, serving: dict[str, Any] | None
    ) -> None:
        """Serve `pipeline` for `name` from now on (one step: no request sees half of it)."""
        slot = self.slots[name]
        slot.loaded, slot.pipeline, slot.serving, slot.load_seconds = loaded, pipeline, serving, seconds
        slot.status, slot.error, slot.loaded_at = "ready", None, time.time()

    def unload(self, name: str) -> object | None:
        """Stop serving `name`; returns the pipeline it served."""
        slot = self.slots[name]
        old, slot.pipeline, slot.status = slot.pipeline, None, "unloaded"
        slot.error = f"unloaded through the repository API; POST /v2/repository/models/{name}/load"
        return old

    def public(self, message: str) -> str:
        """A message as clients read it: files relative to $MODELS_DIR, never the server's path."""
        root = str(self._models_dir.resolve())
        return message.replace(root, "$MODELS_DIR").replace(str(self._models_dir), "$MODELS_DIR")

    def fail(self, name: str, error: BaseException) -> None:
        """Mark `name` failed, with the reason."""
        slot = self.slots[name]
        slot.status, slot.error = "failed", self.public(str(error))

    def health(self, queue_depth: int) -> dict[str, Any]:
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
            "queue_depth": queue_depth,
        }
