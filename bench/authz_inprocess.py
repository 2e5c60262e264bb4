"""Case 8's last figure: the authz service's decisions per second in-process (no HTTP).

The service's ASGI app is called in a loop on this process's core, as uvicorn would call it
for nginx's check of an allowed request (a cached publishable key, a catalogued route, a
workspace with a blacklist rule): trust, the nginx dialect, the gateway, the identity app.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry

from bench.apps import PATH
from bench.setup import BenchEnv
from gateway.authz.service import AuthzService


async def decisions_in_process(env: BenchEnv, count: int) -> float:
    """The service's ASGI app called ``count`` times: allowed decisions per second."""
    service = AuthzService(
        dialect="nginx",
        trusted_proxies=["127.0.0.1/32"],
        settings=env.settings,
        registry=CollectorRegistry(),
    )
    await service.start()
    headers = [
        (b"host", b"keystile"),
        (b"x-original-method", b"GET"),
        (b"x-original-uri", PATH.encode()),
        (b"x-original-host", b"api.example"),
        (b"x-api-key", env.publishable_key().encode()),
    ]
    template: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/_keystile", "raw_path": b"/_keystile", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9000),
    }  # fmt: skip
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    try:
        await service(dict(template), receive, send)  # the key's lookup: cached afterwards
        statuses.clear()
        started = time.perf_counter()
        for _ in range(count):
            await service(dict(template), receive, send)
        elapsed = time.perf_counter() - started
    finally:
        await service.stop()
    if set(statuses) != {200}:
        raise RuntimeError(f"in-process decisions were not all allowed: {set(statuses)}")
    return count / elapsed
