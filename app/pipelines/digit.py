"""Digits: uploads -> MNIST form -> network -> calibrated answers, wherever the work runs."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.errors import Overloaded, ServiceError
from app.metrics import DigitObserver
from models import second_look
from models.artifacts import LoadedModel
from models.features import softmax

Forms = npt.NDArray[np.uint8]  # (N, 28, 28): uploads in MNIST form, white on black
Logits = npt.NDArray[np.float32]  # (N, 10)
Probabilities = npt.NDArray[np.float64]  # (N, 10): softmax(logits / T), rows summing to 1


class Runner(Protocol):
    """Where a digit request's work runs: the server process or the upload child processes."""

    async def run(self, files: list[bytes]) -> tuple[Forms, Logits]:
        """Every upload in MNIST form and the network's logits; raises `BadUpload` for the first bad one."""
        ...

    async def infer(self, forms: Forms) -> Logits:
        """The network's logits of images already in MNIST form."""
        ...

    @property
    def pending(self) -> int:
        """Images queued or in work."""
        ...

    async def close(self) -> None: ...


class BadUpload(Exception):
    """Raised by a runner when upload `index` of a request cannot be read; `error` is the client's answer."""

    def __init__(self, index: int, error: ServiceError) -> None:
        super().__init__(index, error)
        self.index, self.error = index, error


def png_base64(pixels: npt.NDArray[np.uint8]) -> str:
    """A 28x28 uint8 image as a base64 PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class DigitPipeline:
    """Reads digits: `runner` brings uploads to MNIST form and runs the network; this answers."""

    def __init__(self, loaded: LoadedModel, runner: Runner, observer: DigitObserver | None = None) -> None:
        self.temperature = loaded.temperature
        self.model = {"name": loaded.name, "version": loaded.version}
        self.runner, self.observer = runner, observer
        self.active = 0  # requests holding a lease (`Registry.lease`): a replaced pipeline waits for them

    async def close(self, drain_s: float) -> None:
        """Wait (at most `drain_s`) for the requests in flight, then release the runner."""
        deadline = asyncio.get_running_loop().time() + drain_s
        while self.active and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await self.runner.close()

    async def read(self, files: list[bytes], debug: bool, many: bool) -> list[dict[str, Any]]:
        """One answer per upload; a bad upload is its client error (named by index when `many`)."""
        forms, probs = await self.probabilities(files, "files" if many else "")
        return [self.answer(probs[i], forms[i], debug) for i in range(len(files))]

    async def probabilities(self, files: list[bytes], name: str) -> tuple[Forms, Probabilities]:
        """Uploads -> their MNIST forms and calibrated probabilities; a bad one's error names `name[i]`."""
        try:
            forms, logits = await self.runner.run(files)
        except BadUpload as bad:
            if name:  # name the bad file in a batch
                bad.error.message = f"{name}[{bad.index}]: {bad.error.message}"
            raise bad.error from None
        return forms, await self.look_again(forms, softmax(logits, self.temperature))

    async def probabilities_of_forms(self, forms: Forms) -> Probabilities:
        """(N, 28, 28) uint8 already in MNIST form (white on black, centred) -> calibrated probabilities."""
        return await self.look_again(forms, softmax(await self.runner.infer(forms), self.temperature))

    async def look_again(self, forms: Forms, probs: Probabilities) -> Probabilities:
        """`models.second_look`: the forms the network is unsure of, read again turned either way.

        The request was admitted and its first reading done: when the service is too busy for the
        views (a full queue, a deadline, a drain after SIGTERM), the first reading is the answer.
        """
        rows = second_look.unsure(probs)
        if not len(rows):
            return probs
        try:
            views = await self.runner.infer(second_look.views(forms[rows]))
        except Overloaded:
            self._count("skipped", len(rows))
            return probs
        self._count("read", len(rows))
        return second_look.combine(probs, rows, softmax(views, self.temperature))

    def _count(self, outcome: str, forms: int) -> None:
        if self.observer is not None:
            self.observer.second_look(outcome, forms)

    def answer(self, probs: npt.NDArray[np.float64], pixels: Forms, debug: bool) -> dict[str, Any]:
        """One answer dict from one row of probabilities and the 28x28 image the network saw."""
        order = np.argsort(-probs, kind="stable")
        values = probs.tolist()
        return {
            "digit": int(order[0]),
            "confidence": values[int(order[0])],
            "probabilities": values,
            "top": [{"digit": int(d), "probability": values[int(d)]} for d in order[:3]],
            "model": self.model,
            "input_image": png_base64(pixels) if debug else None,
        }
