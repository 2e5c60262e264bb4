"""An ASGI app served by a real uvicorn on a free loopback port, in a thread of the test.

For tests that need a live HTTP endpoint next to something else that owns the main thread
(a browser, a Flask server). The lifespan runs, so a gateway starts its listener exactly as
in production; leaving the ``with`` block shuts the server down gracefully.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from keystile.redis_server import free_port


@contextlib.contextmanager
def served(
    app: ASGIApp,
    *,
    start_timeout: float = 30.0,
    proxy_headers: bool = True,
    root_path: str = "",
) -> Iterator[str]:
    """Serve ``app``; yields its base URL once the socket accepts connections.

    ``proxy_headers``: uvicorn's own option (off for the authz service, as ``keystile
    authz`` runs it: the peer's address must not come from ``X-Forwarded-For``).
    ``root_path``: uvicorn's ``--root-path`` (the scope's root path, prefixed to its path).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        log_level="warning",
        lifespan="on",
        proxy_headers=proxy_headers,
        root_path=root_path,
    )
    server = uvicorn.Server(config)
    ready = threading.Event()
    startup = server.startup

    async def announce(sockets: object = None) -> None:
        await startup(sockets=sockets)  # type: ignore[arg-type]
        ready.set()  # also on a failed start: server.started tells which

    server.startup = announce  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    try:
        if not ready.wait(start_timeout) or not server.started:
            raise RuntimeError(f"uvicorn did not start on port {config.port}")
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
