"""Case 9: what usage counting costs (:mod:`gateway.usage.request_counts`).

* case 1's in-process hit with counting on and off, interleaved rounds in one run (the
  publishable key, an ``Origin`` header: the most a hit counts), the difference per request;
* Redis commands while 10,000 requests are served, then at their flush: only the flush's
  pipeline (``HINCRBY``/``EXPIREAT``/``HSET``), nothing per request;
* memory per active key: a cached key's tally after three actions, and what the flush
  builds for it (tracemalloc, over many keys);
* the flush itself with 10,000 active keys (collect + one pipeline to Redis).
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections import defaultdict
from typing import Any

from bench import apps
from bench.inprocess import _timed, caller, make_scope
from bench.redisstats import Window
from bench.report import CaseResult
from bench.setup import BenchEnv
from gateway.keys.cached_key import CachedKey
from gateway.usage.request_counts import UsageCounter
from policies.keys.keyformat import KeyKind
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client
from policies.storage.values import KeyPolicy

NAME = "9 usage counts"
TARGET_US = 0.5
ACTIONS = ("projects.list", "projects.create", "billing.read")


async def run(
    env: BenchEnv, *, rounds: int, per_round: int, requests: int, active_keys: int
) -> CaseResult:
    result = CaseResult(NAME)
    key = env.publishable_key()
    scope = make_scope(key)
    scope["headers"] = [*scope["headers"], (b"origin", b"https://shop.example")]
    on, gated_on = apps.gateway_app(env.settings, env.catalog)
    off, gated_off = apps.gateway_app(env.settings, env.catalog, usage_counts=False)
    # For the command count: no periodic flush inside the window, only the one called.
    held, gated_held = apps.gateway_app(env.settings, env.catalog, touch_interval=3600.0)
    for gate in (on, off, held):
        await gate.start()
    try:
        calls = {"on": caller(gated_on, scope), "off": caller(gated_off, scope)}
        for name, call in calls.items():
            if {await call() for _ in range(200)} != {200}:
                raise RuntimeError(f"counting {name}: not 200")
        samples: dict[str, list[float]] = {"on": [], "off": []}
        for r in range(rounds):
            for name in ("on", "off") if r % 2 == 0 else ("off", "on"):
                samples[name].append(await _timed(calls[name], per_round))
        count = caller(gated_held, scope)
        await count()
        await held.flush_usage()
        with Window(env.client) as during:
            for _ in range(requests):
                await count()
        with Window(env.client) as flushing:
            await held.flush_usage()
    finally:
        for gate in (on, off, held):
            await gate.stop()
    deltas = [a - b for a, b in zip(samples["on"], samples["off"], strict=True)]
    delta = statistics.median(deltas)
    result.row(
        "hit, counting on - off: us/request",
        f"{delta:+.2f} ({statistics.median(samples['on']):.1f} vs "
        f"{statistics.median(samples['off']):.1f})",
        f"<= +{TARGET_US}",
        delta <= TARGET_US,
    )
    per_10k = during.commands.total * 10_000 / requests
    result.row(
        f"Redis commands during {requests} requests (per 10,000)",
        f"{per_10k:.0f}",
        "only flush pipelines",
        during.commands.other == 0 and during.commands.lookups == 0,
    )
    result.details.append(
        f"during the requests: {during.commands.describe()} (only periodic version checks "
        "may appear here); "
        f"their flush, one pipeline: {flushing.commands.describe()}"
    )
    per_key, flush_ms = await _many_keys(env, active_keys)
    result.row("memory per active key (tally + flush)", f"{per_key:.0f} B")
    idle = sys.getsizeof(defaultdict(int))
    result.details.append(f"every cached key also holds an empty tally: {idle} B")
    result.row(f"flush of {active_keys} active keys", f"{flush_ms:.0f} ms")
    result.details.append(
        f"{rounds} interleaved rounds of {per_round} hits; memory and flush over "
        f"{active_keys} token entries with {len(ACTIONS)} actions each, across 10 workspaces"
    )
    return result


def _entries(env: BenchEnv, count: int) -> list[CachedKey]:
    workspaces = [env.ws] + [f"ws_bench{n:07d}" for n in range(9)]
    entries = []
    for n in range(count):
        policy = KeyPolicy(workspaces[n % 10], KeyKind.TOKEN, f"k{n:011d}", version=1)
        entries.append(CachedKey(n.to_bytes(8, "big"), policy, 0.0))
    return entries


async def _many_keys(env: BenchEnv, count: int) -> tuple[float, float]:
    entries = _entries(env, count)
    counter = UsageCounter(time.time)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for entry in entries:
        for action in ACTIONS:
            entry.tally[action] += 1
    collected: Any = counter.collect(entries)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del collected
    for entry in entries:  # once more, timed: the flush as the ticker runs it
        for action in ACTIONS:
            entry.tally[action] += 1
    reader = AsyncPolicyStore(async_client(env.url), env.settings.keyring(), timeout=None)
    try:
        started = time.perf_counter()
        await reader.record({}, counter.collect(entries))
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        await reader.client.aclose()
    return used / count, elapsed
