"""The probe listener (app/probes.py): its own thread answers /livez and /readyz, and tells a stuck loop."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

from app.probes import ProbeServer


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_probes_answer_readiness_and_a_stalled_loop_fails_liveness() -> None:
    state: Any = SimpleNamespace(ready=False)
    probes = ProbeServer(state, "127.0.0.1", 0, stall_s=0.3)  # port 0: any free one
    seen: dict[str, tuple[int, bytes]] = {}

    async def scenario() -> None:
        probes.start()
        seen["live"] = await asyncio.to_thread(get, probes.port, "/livez")
        seen["not ready"] = await asyncio.to_thread(get, probes.port, "/readyz")
        state.ready = True
        seen["ready"] = await asyncio.to_thread(get, probes.port, "/readyz")
        seen["v2 ready"] = await asyncio.to_thread(get, probes.port, "/v2/health/ready")
        seen["v2 live"] = await asyncio.to_thread(get, probes.port, "/v2/health/live")
        seen["other"] = await asyncio.to_thread(get, probes.port, "/predict/price")
        during: list[tuple[int, bytes]] = []

        def ask() -> None:
            time.sleep(0.8)
            during.extend([get(probes.port, "/livez"), get(probes.port, "/v2/health/live")])

        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(1.5)  # the loop is stuck (not busy): no heartbeat, and the thread still answers
        asker.join()
        seen["stalled"], seen["v2 stalled"] = during
        await asyncio.sleep(0.3)  # the loop runs again: the heartbeat comes back
        seen["recovered"] = await asyncio.to_thread(get, probes.port, "/livez")

    try:
        asyncio.run(scenario())
    finally:
        probes.stop()
    assert seen["live"] == (200, b'{"status":"ok"}')
    assert seen["not ready"] == (503, b'{"ready":false}')
    assert seen["ready"] == seen["v2 ready"] == (200, b'{"ready":true}')
    assert seen["v2 live"] == (200, b'{"live":true}')
    assert seen["other"][0] == 404
    assert seen["stalled"][0] == 503 and b'"status":"stalled"' in seen["stalled"][1]
    assert seen["v2 stalled"] == (503, b'{"live":false}')
    assert seen["recovered"] == (200, b'{"status":"ok"}')
