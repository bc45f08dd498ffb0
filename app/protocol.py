"""uvicorn's httptools protocol, stamping each request with the time its first byte was parsed.

Under overload most of a request's wait is not in the app: it is the event loop's queue of tasks
uvicorn has created but not yet run (the price route never yields, so nothing waits inside the app).
The stamp lets admission (`app.admission`) see that wait and refuse a request that already waited
past its deadline. Without it (another server, TestClient) admission counts from the app's entry.
"""

from __future__ import annotations

import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

EXTENSION = "paddle_serve"  # scope["extensions"][EXTENSION]["arrived"]: time.monotonic() at the first byte
PROTOCOL = "app.protocol:StampedHttpToolsProtocol"  # for uvicorn's `http=` / `--http`


class StampedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose scopes carry the arrival time (one clock read per request)."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {EXTENSION: {"arrived": time.monotonic()}}
