"""Case 4: a key's first request (cache miss): its latency and the Redis round trips it costs.

In-process, through ASGI: a started gateway, then ``keys`` fresh workspace tokens, each
sent once (cold), timed one by one inside an ``INFO commandstats`` window, then once more
(warm) for comparison. The very first lookup after ``SCRIPT FLUSH`` (a Redis restart) is
measured apart: the script must be sent once (``EVALSHA`` -> ``NOSCRIPT`` -> ``EVAL``).
"""

from __future__ import annotations

import time

from bench.apps import gateway_app
from bench.inprocess import caller, make_scope
from bench.loadgen import percentile
from bench.redisstats import Window
from bench.report import CaseResult
from bench.setup import BenchEnv, create_tokens

NAME = "4 cold key"


async def run(env: BenchEnv, *, keys: int) -> CaseResult:
    result = CaseResult(NAME)
    tokens = create_tokens(env.store, env.ws, keys + 1)
    gate, app = gateway_app(env.settings, env.catalog)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10), "gateway did not subscribe"
        env.client.script_flush()
        with Window(env.client) as first:
            if await caller(app, make_scope(tokens[0]))() != 200:
                raise RuntimeError("the first token was refused")
        calls = [caller(app, make_scope(t)) for t in tokens[1:]]
        cold: list[float] = []
        with Window(env.client) as window:
            for call in calls:
                started = time.perf_counter()
                status = await call()
                cold.append((time.perf_counter() - started) * 1e6)
                if status != 200:
                    raise RuntimeError(f"a fresh token was answered {status}")
        warm: list[float] = []
        for call in calls:
            started = time.perf_counter()
            await call()
            warm.append((time.perf_counter() - started) * 1e6)
        misses = gate.metrics.cache["miss"]
    finally:
        await gate.stop()
    commands = window.commands
    per_key = commands.lookups / len(calls)
    extra = commands.other / len(calls)
    result.row(
        "first request p50 / p99 us",
        f"{percentile(cold, 50):.0f} / {percentile(cold, 99):.0f} "
        f"(warm: {percentile(warm, 50):.0f} / {percentile(warm, 99):.0f})",
    )
    result.row(
        "Redis round trips per cold key",
        f"{per_key + extra:.2f} ({commands.lookups} EVALSHA / {len(calls)} keys)",
        "<= 1",
        per_key + extra <= 1.0,
    )
    result.row("after SCRIPT FLUSH, first lookup: commands", first.commands.describe())
    result.details.append(
        f"{len(calls)} fresh tokens, one request each, sequential; cache misses counted by the "
        f"gateway: {misses}; all commands in the window: {commands.describe()} (HGET: the "
        "periodic version check; script-internal commands subtracted, see bench/redisstats.py)"
    )
    result.details.append(
        "a lookup is one EVALSHA of policies.storage.lua.LOOKUP (HGET record, HMGET "
        "version+origins, SMEMBERS rules inside Redis); after a restart or SCRIPT FLUSH "
        "the first one costs a second round trip to send the script (EVAL)"
    )
    return result
