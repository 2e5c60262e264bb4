"""Case 5: Redis commands at steady state, per 10,000 requests with a warm cache.

In-process: a started gateway with 100 warm keys (the publishable key and 99 tokens);
10,000 requests round-robin over them, paced over ``seconds`` (about what one uvicorn
worker serves), inside an ``INFO commandstats`` window; then an idle window of the same
length, for the gateway's periodic commands alone. The goal: no lookup at all, only the
periodic version checks (and the batched last-used flush).
"""

from __future__ import annotations

import asyncio
import time

from bench.apps import gateway_app
from bench.inprocess import caller, make_scope
from bench.redisstats import Window
from bench.report import CaseResult
from bench.setup import BenchEnv, create_tokens

NAME = "5 Redis at steady state"
BATCH = 100


async def run(env: BenchEnv, *, requests: int, seconds: float) -> CaseResult:
    result = CaseResult(NAME)
    keys = [env.publishable_key(), *create_tokens(env.store, env.ws, 99)]
    gate, app = gateway_app(env.settings, env.catalog)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10), "gateway did not subscribe"
        calls = [caller(app, make_scope(k)) for k in keys]
        for call in calls:
            if await call() != 200:
                raise RuntimeError("a warm-up request was refused")
        misses = gate.metrics.cache["miss"]
        pause = seconds / (requests / BATCH)
        with Window(env.client) as busy:
            started = time.perf_counter()
            for n in range(0, requests, BATCH):
                for i in range(n, min(n + BATCH, requests)):
                    await calls[i % len(calls)]()
                due = started + (n + BATCH) / requests * seconds
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            busy_seconds = time.perf_counter() - started
        misses = gate.metrics.cache["miss"] - misses
        with Window(env.client) as idle:
            started = time.perf_counter()
            await asyncio.sleep(busy_seconds)
            idle_seconds = time.perf_counter() - started
    finally:
        await gate.stop()
    commands = busy.commands
    per_10k = 10_000 / requests
    result.row(
        "lookups per 10,000 warm requests",
        f"{commands.lookups * per_10k:.0f}",
        "0",
        commands.lookups == 0,
    )
    result.row(
        "all commands per 10,000 requests",
        f"{commands.total * per_10k:.0f} ({commands.describe()}; {busy_seconds:.1f} s)",
        "periodic only",
        commands.other == 0 and commands.lookups == 0,
    )
    result.row(
        "periodic commands per second, idle",
        f"{idle.commands.total / idle_seconds:.1f} "
        f"({idle.commands.describe()}; {idle_seconds:.1f} s)",
    )
    result.details.append(
        f"{requests:,} requests over {len(keys)} warm keys in {busy_seconds:.2f} s "
        f"({requests / busy_seconds:,.0f} req/s), cache misses during the window: {misses}; "
        f"pace {pause * 1e3:.1f} ms per {BATCH} requests"
    )
    result.details.append(
        "HGET = version check (one pipelined HGET per cached workspace every check_interval), "
        "HSET = last-used flush (every touch_interval), PING = pub/sub health check"
    )
    return result
