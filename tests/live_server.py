"""A Trellis app served by uvicorn on a loopback port in a thread, in this process.

For protocol-level tests that need a real socket (botocore, gql) *and* access to the app's
objects (a capturing code sender, the runtime).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.serving import uvicorn_options


@contextmanager
def serve_in_thread(app: Any, port: int, **options: Any) -> Iterator[str]:
    """Serve ``app`` as ``trellis serve`` would; ``options`` override uvicorn's."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                          **{**uvicorn_options(), **options}))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread exited before it started")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start in 20 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
