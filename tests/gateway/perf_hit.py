"""Rough per-request cost of a cache hit against the bare app, in-process (not a test).

    python -m tests.gateway.perf_hit [calls]

Starts its own redis-server, puts a minimal Starlette app behind the gateway and calls both
ASGI apps directly (no server, no sockets) with a publishable key that is cached after the
first call; runs alternate between the two so machine noise hits both, and the best run of
each counts. Also reports how many key lookups reached Redis during the timed runs (0 is the
goal: a cache hit sends no command). The benchmark issue measures this properly.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from typing import Any

import redis
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from gateway import KeyGateMiddleware, catalog_from_app
from keystile.redis_server import RedisServer
from policies import Keyring, PolicyStore, Settings


async def handler(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/projects", handler, methods=["GET"], name="projects.list"),
            Route("/projects/{project_id}", handler, methods=["DELETE"], name="projects.delete"),
        ]
    )


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    return None


def scope(key: str, method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"api.example"),
            (b"user-agent", b"perf"),
            (b"accept", b"*/*"),
            (b"authorization", b"Bearer " + key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("api.example", 80),
    }


async def best_of(apps: list[ASGIApp], template: dict[str, Any], calls: int) -> list[float]:
    """Microseconds per call for each app: best of 11 alternating runs of ``calls``."""
    for app in apps:  # warm up (and fill the cache)
        for _ in range(2_000):
            await app({**template, "state": {}}, receive, send)
    best = [float("inf")] * len(apps)
    for _ in range(11):
        for i, app in enumerate(apps):
            started = time.perf_counter()
            for _ in range(calls):
                await app({**template, "state": {}}, receive, send)
            best[i] = min(best[i], (time.perf_counter() - started) / calls * 1e6)
    return best


async def measure(url: str, calls: int) -> None:
    settings = Settings(url, (Keyring.generate_master_key(),), Keyring.generate_digest_secret())
    client = redis.Redis.from_url(url, decode_responses=True)
    store = PolicyStore(client, settings.keyring())
    catalog = catalog_from_app(bare_app())
    store.save_catalog(catalog)
    key = store.create_workspace("perf", actor="perf").publishable_key
    gate = KeyGateMiddleware(
        bare_app(), settings=settings, catalog=catalog, registry=CollectorRegistry()
    )
    await gate.start()
    try:
        for method, path in (("GET", "/projects"), ("DELETE", "/projects/42")):
            await gate({**scope(key, method, path), "state": {}}, receive, send)  # cache it
            lookups = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
            bare, gated = await best_of([bare_app(), gate], scope(key, method, path), calls)
            lookups = (
                client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) - lookups
            )
            print(
                f"{method} {path}: bare {bare:.2f} us, behind the gateway {gated:.2f} us "
                f"= {gated / bare:.3f}x (+{gated - bare:.2f} us); lookups in Redis: {lookups}"
            )
    finally:
        await gate.stop()
        client.close()


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as folder, RedisServer(folder, persistent=False) as server:
        asyncio.run(measure(server.url, calls))


if __name__ == "__main__":
    main()
