"""The HTTP server under ``keystile authz``: Granian (``keystile[fast]``) when installed, else
uvicorn (``keystile[serve]``). Both run :func:`keystile.serving.create_authz_app` in each
worker, read the trust check's peer address from the TCP connection (never from
``X-Forwarded-For``) and log no access line (the proxy logs every request).

Granian parses HTTP and does the socket work in Rust: per worker, x2.3-x3.7 the checks per
second of uvicorn on h11 (bench case 8, 32 and 128 concurrent checks).
"""

from __future__ import annotations

import importlib.util
from typing import Literal

ServerName = Literal["granian", "uvicorn"]
SERVERS: tuple[ServerName, ...] = ("granian", "uvicorn")
FACTORY = "keystile.serving:create_authz_app"


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module blocked (None in sys.modules) or half-there
        return False


def default_server() -> ServerName:
    return "granian" if installed("granian") else "uvicorn"


def run(server: ServerName, *, host: str, port: int, workers: int) -> None:
    """Serve the authz app until stopped (SIGINT, SIGTERM)."""
    if server == "granian":
        _granian(host, port, workers)
    else:
        _uvicorn(host, port, workers)


def _granian(host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    Server(
        FACTORY,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        loop=Loops.uvloop if installed("uvloop") else Loops.asyncio,
        # A check is HTTP: a proxy that passes the client's upgrade on (Caddy does) gets
        # the handshake decided and answered in HTTP (AuthzService), never accepted.
        websockets=False,
        log_access=False,
    ).serve()


def _uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        access_log=False,
        log_level="info",
    )
