"""KServe's `InferenceRESTClient` (v2) against a running service; prints what it got as JSON.

Run by tests/v2/test_kserve_client.py in KServe's own virtual environment (KServe pins an older
protobuf than Paddle's): `python kserve_client.py URL FEATURES_JSON PNG_PATH PIXELS_JSON`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def main(url: str, rows: list[list[float]], png: bytes, pixels: list[list[list[int]]]) -> dict:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    out: dict = {
        "live": await client.is_server_live(url),
        "ready": await client.is_server_ready(url),
        "boston_ready": await client.is_model_ready(url, "boston"),
        "mnist_ready": await client.is_model_ready(url, "mnist"),
    }
    features = InferInput("features", [len(rows), 13], "FP64")
    features.set_data_from_numpy(np.array(rows, np.float64), binary_data=False)
    result = await client.infer(url, InferRequest("boston", [features], request_id="k-1"), "boston")
    out["price"] = result.outputs[0].as_numpy()[:, 0].tolist()
    out["id"] = result.id
    image = InferInput("image", [1], "BYTES")
    image.set_data_from_numpy(np.array([png], dtype=np.object_), binary_data=True)
    result = await client.infer(url, InferRequest("mnist", [image]), "mnist")
    named = {o.name: o.as_numpy() for o in result.outputs}
    out["image"] = {"digit": named["digit"].tolist(), "probabilities": named["probabilities"].tolist()}
    tensor = InferInput("pixels", [1, 28, 28], "UINT8")
    tensor.set_data_from_numpy(np.array(pixels, np.uint8), binary_data=False)
    result = await client.infer(url, InferRequest("mnist", [tensor]), "mnist")
    named = {o.name: o.as_numpy() for o in result.outputs}
    out["pixels"] = {"digit": named["digit"].tolist(), "probabilities": named["probabilities"].tolist()}
    return out


if __name__ == "__main__":
    url, rows, png, pixels = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
    print(json.dumps(asyncio.run(main(url, rows, png.read_bytes(), pixels))))
