"""Where a digit request's work runs; the lifespan picks one runner, once.

- `InProcessRunner`: uploads brought to MNIST form in the server process (on the event loop when
  small, in a thread when large), the network behind the micro-batcher.
- `ChildRunner`: uploads prepared, and the network run, in the upload child processes
  (`app.workers`); the micro-batcher runs the network for a batch whose child did not, and the
  in-process runner takes over if every child dies and none restarts.
"""

from __future__ import annotations

import asyncio
import io
import struct

import numpy as np
from PIL import Image

from app.batching import MicroBatcher
from app.errors import ServiceError
from app.metrics import DigitObserver
from app.pipelines.digit import BadUpload, Forms, Logits
from app.predictors.preprocess import prepare_upload, set_pixel_limit
from app.workers import ChildPool, PoolUnavailable
from models.features import scale_pixels

INLINE_PIXELS = 128 * 128  # total pixels of the uploads of one request prepared without a thread
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"  # signature, then the IHDR chunk's length and type


def header_pixels(files: list[bytes]) -> int:
    """Total pixels of the uploads, from their headers only; an unreadable file counts 0."""
    total = 0
    for data in files:
        if data.startswith(PNG_HEADER) and len(data) >= 24:  # 1 µs against ~30 µs for Image.open
            width, height = struct.unpack(">II", data[16:24])
            total += width * height
            continue
        try:
            width, height = Image.open(io.BytesIO(data)).size
        except Exception:  # not an image, or a bomb: preparing it fails at once, inline is fine
            continue
        total += width * height
    return total


class InProcessRunner:
    """Preparation in this process, the network on the micro-batcher's thread."""

    def __init__(self, batcher: MicroBatcher, max_pixels: int, observer: DigitObserver) -> None:
        self.batcher, self.max_pixels, self.observer = batcher, max_pixels, observer
        set_pixel_limit(max_pixels)

    @property
    def pending(self) -> int:
        return self.batcher.pending

    async def run(self, files: list[bytes]) -> tuple[Forms, Logits]:
        # A small picture is prepared on the event loop: with the GIL, a thread hop costs more than it
        # saves (bench/: 1.9x the digit throughput at 28x28). A large one (~25 ms at 900x700) goes off it.
        if header_pixels(files) <= INLINE_PIXELS:
            forms = self.prepare_all(files)
        else:
            forms = await asyncio.to_thread(self.prepare_all, files)
        return forms, await self.infer(forms)

    async def infer(self, forms: Forms) -> Logits:
        return await self.batcher.submit(scale_pixels(forms))

    def prepare_all(self, files: list[bytes]) -> Forms:
        """(N, 28, 28) uint8; raises BadUpload for the first file that is not a readable digit."""
        forms = []
        for i, data in enumerate(files):
            try:
                pixels, decode_s, preprocess_s = prepare_upload(data, self.max_pixels)
            except ServiceError as exc:
                raise BadUpload(i, exc) from None
            self.observer.stage("decode", decode_s)
            self.observer.stage("preprocess", preprocess_s)
            forms.append(pixels)
        return np.stack(forms)

    async def close(self) -> None:
        await self.batcher.stop()


class ChildRunner:
    """Preparation and the network in the upload child processes; `local` when none can serve."""

    def __init__(self, pool: ChildPool, local: InProcessRunner) -> None:
        self.pool, self.local = pool, local

    @property
    def pending(self) -> int:
        return self.pool.pending + self.local.pending

    async def run(self, files: list[bytes]) -> tuple[Forms, Logits]:
        try:
            outcomes, logits = await self.pool.prepare(files)
        except PoolUnavailable:  # every child died and none restarts: as with 0 processes
            return await self.local.run(files)
        ready = []
        for i, outcome in enumerate(outcomes):  # the first bad file, as in-process
            if isinstance(outcome, ServiceError):
                raise BadUpload(i, outcome)
            ready.append(outcome)
        forms = np.stack(ready)
        if logits is None:  # this batch's child did not run the network: the server does
            logits = await self.local.infer(forms)
        return forms, logits

    async def infer(self, forms: Forms) -> Logits:
        return await self.local.infer(forms)  # no preparation to move off the event loop

    async def close(self) -> None:
        await self.pool.stop()
        await self.local.close()
