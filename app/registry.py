"""The models the service knows: each one's status, verified card, serving facts and pipeline."""

from __future__ import annotations

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

    def why(self, name: str) -> str:
        """Why `name` cannot answer, as a client reads it."""
        slot = self.slots[name]
        if slot.status == "failed":
            return f"model {name!r} is unavailable: {slot.error}"
        return f"model {name!r} is not loaded yet"

    def publish(self, name: str, pipeline: object, loaded: LoadedModel, seconds: float) -> None:
        slot = self.slots[name]
        slot.loaded, slot.pipeline, slot.load_seconds, slot.status = loaded, pipeline, seconds, "ready"

    def fail(self, name: str, error: BaseException) -> None:
        """Mark `name` failed; the reason names files relative to $MODELS_DIR, never the server's path."""
        root = str(self._models_dir.resolve())
        public = str(error).replace(root, "$MODELS_DIR").replace(str(self._models_dir), "$MODELS_DIR")
        slot = self.slots[name]
        slot.status, slot.error = "failed", public

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
