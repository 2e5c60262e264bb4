"""Case 1: the in-process cost of a decision, through ASGI with no server and no network.

The three variants of :mod:`bench.apps` get the same prebuilt scope (a copy per call),
a ``receive`` that hands over an empty body and a ``send`` that keeps the status. They run
in interleaved rounds (the order rotates each round) of ``per_round`` calls each; a
variant's cost is the median over rounds of (round time / calls), which cancels drifts
that hit every variant alike. The gateway's key is cached (first call warms it); the
naive middleware does its Redis ``HGET`` on every call, as it would in production.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message

from bench import apps
from bench.apps import PATH, gateway_app, naive_app
from bench.loadgen import quartiles
from bench.report import CaseResult
from bench.setup import BenchEnv

NAME = "1 in-process"
TARGET_RATIO = 1.20

_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}


def make_scope(key: str, path: str = PATH) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _receive() -> Message:
    return _REQUEST


Caller = Callable[[], Awaitable[int]]


def caller(app: ASGIApp, scope: dict[str, Any]) -> Caller:
    """A zero-argument coroutine function: one request through ``app``, its status."""
    status = [0]

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    async def call() -> int:
        await app(dict(scope), _receive, send)
        return status[0]

    return call


async def _timed(call: Caller, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await call()
    return (time.perf_counter() - started) / count * 1e6


async def run(env: BenchEnv, *, rounds: int, per_round: int) -> CaseResult:
    result = CaseResult(NAME)
    key = env.publishable_key()
    gate, gated = gateway_app(env.settings, env.catalog)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10), "gateway did not subscribe"
        scope = make_scope(key)
        calls = {
            "a bare": caller(apps.bare(), scope),
            "b gateway": caller(gated, scope),
            "c BaseHTTPMiddleware+Redis": caller(naive_app(env.settings), scope),
        }
        for name, call in calls.items():  # warm up: caches, imports, connections
            statuses = {await call() for _ in range(200)}
            if statuses != {200}:
                raise RuntimeError(f"{name} answered {statuses}, expected 200")
        samples: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        counts = {name: per_round for name in names}
        counts[names[2]] = max(10, per_round // 10)  # a Redis round trip each: 30x slower
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                samples[name].append(await _timed(calls[name], counts[name]))
        lookups = gate.metrics.cache["miss"]
    finally:
        await gate.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare = samples["a bare"]
    for name, values in samples.items():
        # Each round's variant against the bare run next to it: drifts cancel.
        ratios = [v / b for v, b in zip(values, bare, strict=True)]
        ratio = statistics.median(ratios)
        low, high = quartiles(ratios)
        value = f"{medians[name]:.1f} (x{ratio:.2f})"
        if name.startswith("b"):
            result.row(f"{name}: us/request", value, "<= x1.20", ratio <= TARGET_RATIO)
        else:
            result.row(f"{name}: us/request", value)
        result.details.append(
            f"{name}: {medians[name]:.1f} us (rounds {min(values):.1f}-{max(values):.1f}); "
            f"ratio to bare x{ratio:.3f}, interquartile x{low:.3f}-x{high:.3f}"
        )
    result.details.append(
        f"{rounds} interleaved rounds of {per_round} calls ((c): {counts[names[2]]}); the "
        "ratio is the median over rounds of (variant / bare of the same round); gateway "
        f"overhead {medians['b gateway'] - medians['a bare']:.1f} us per request; the gateway "
        f"looked up {lookups} key(s) in Redis in all (the warm-up's)"
    )
    result.details.append(
        "(c) is the hand-written BaseHTTPMiddleware of bench/apps.py: one HGET per request "
        "(generous: no rule check), over loopback to a Redis pinned to the other core"
    )
    return result


def main_loop(env: BenchEnv, seconds: float) -> None:
    """Only variant (b), for ``seconds``: what ``python -m bench.profile`` profiles."""

    async def loop() -> None:
        gate, gated = gateway_app(env.settings, env.catalog)
        await gate.start()
        call = caller(gated, make_scope(env.publishable_key()))
        await call()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(1000):
                await call()
        await gate.stop()

    asyncio.run(loop())
