"""The naive baseline: a FastAPI app that runs the same networks per request, in dygraph eval mode.

No batching, no exported backend, no thread: decode the upload with the service's own
preprocessing (so both do the same work per image), run the network, answer.
    BENCH_MODELS_DIR=models uvicorn bench.baseline:app
"""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, UploadFile
from pydantic import BaseModel, create_model

from app.predictors.preprocess import prepare_upload
from models.features import BOSTON_FEATURES, scale_pixels

warnings.filterwarnings("ignore", message="No ccache found")
MODELS: dict[str, Any] = {}
MAX_PIXELS = 40_000_000
PriceRequest: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "PriceRequest", **{name: (float, ...) for name in BOSTON_FEATURES}
)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    from models.artifacts import load_model

    root = Path(os.environ.get("BENCH_MODELS_DIR", "models"))
    for name in ("boston", "mnist"):
        MODELS[name] = load_model(root / name)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict/price")
async def predict_price(request: PriceRequest) -> dict[str, float]:  # type: ignore[valid-type]
    import paddle

    model = MODELS["boston"]
    norm = model.card["normalization"]
    lo, hi = np.asarray(norm["min"], np.float32), np.asarray(norm["max"], np.float32)
    x = np.asarray([[getattr(request, n) for n in BOSTON_FEATURES]], np.float32)
    x = (x - lo[:-1]) / (hi[:-1] - lo[:-1])
    with paddle.no_grad():
        y = float(model.network(paddle.to_tensor(x)).numpy()[0, 0])
    return {"price": y * float(hi[-1] - lo[-1]) + float(lo[-1])}


@app.post("/predict/digit")
async def predict_digit(file: UploadFile) -> dict[str, Any]:
    import paddle

    x = scale_pixels(prepare_upload(await file.read(), MAX_PIXELS)[0][None])
    with paddle.no_grad():
        logits = MODELS["mnist"].network(paddle.to_tensor(x)).numpy()[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return {"digit": int(p.argmax()), "confidence": float(p.max()), "probabilities": p.tolist()}
