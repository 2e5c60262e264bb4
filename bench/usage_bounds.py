"""What usage counting can cost a deployment, whatever callers send (issue 25).

    .venv/bin/python -m bench.usage_bounds [--minutes 1440] [--keys 10000] [--runs 5]

* a day of hostile origins: 4 gateway processes (4 counters, 4 clients, flushing
  concurrently each minute), the publishable key sent ``--per-minute`` new origins per
  process per minute: the fields of its day, hour and minute buckets, and the day bucket's
  Redis bytes (``MEMORY USAGE``);
* the 30-day chart (day buckets) of that workspace, every day bucket as full as the bound
  allows (the hostile day copied to 30 days, plus every token at its action bound): the
  store's read as the admin's usage view makes it;
* the 30-day chart over 30 old oversized day buckets (``--oversized`` fields each, as one
  written before the bound could grow): read in part, in bounded cost;
* the flush of ``--keys`` active keys (3 actions each, 10 workspaces): median of runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import redis

from bench.setup import BenchEnv, bench_env
from gateway.keys.cached_key import CachedKey
from gateway.usage.request_counts import UsageCounter
from policies.errors import StoreUnavailable
from policies.keys.keyformat import KeyKind
from policies.storage import schema
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client
from policies.storage.values import KeyPolicy
from policies.usage.request_counts import DAY, HOUR, MINUTE

ACTIONS = ("projects.list", "projects.create", "billing.read")
PROCESSES = 4


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _entry(ws: str, kind: KeyKind, key_id: str, n: int) -> CachedKey:
    return CachedKey(n.to_bytes(8, "big"), KeyPolicy(ws, kind, key_id, version=1), 0.0)


async def hostile_day(env: BenchEnv, minutes: int, per_minute: int, start: float) -> None:
    """4 processes, each minute ``per_minute`` new origins each (and 3 actions), flushed."""
    clock = Clock(start)
    stores = [
        AsyncPolicyStore(async_client(env.url), env.settings.keyring(), clock=clock)
        for _ in range(PROCESSES)
    ]
    counters = [UsageCounter(clock) for _ in range(PROCESSES)]
    entries = [_entry(env.ws, KeyKind.PUBLISHABLE, "pk", p) for p in range(PROCESSES)]
    try:
        for minute in range(minutes):
            clock.now = start + minute * 60
            flushes = []
            for p, (store, counter, entry) in enumerate(
                zip(stores, counters, entries, strict=True)
            ):
                for n in range(per_minute):
                    origin = f"https://m{minute}p{p}n{n}.evil.example".encode()
                    entry.tally[(ACTIONS[n % 3], origin)] += 1
                flushes.append(store.record({}, counter.collect([entry])))
            await asyncio.gather(*flushes)
    finally:
        for store in stores:
            await store.client.aclose()


def chart_buckets(env: BenchEnv, day: float, tokens: int) -> None:
    """The hostile day bucket copied to the 29 days before it, and ``tokens`` tokens at
    their action bound in all 30 (written by the flush's own script)."""
    client: redis.Redis = env.client
    source = schema.usage(env.ws, DAY.code, DAY.start(day))
    dumped = client.dump(source)
    assert isinstance(dumped, bytes)
    for back in range(1, 30):
        target = schema.usage(env.ws, DAY.code, DAY.start(day - back * 86400))
        client.restore(target, 0, dumped, replace=True)
    outcomes = ("allowed", "action_blocked", "rate_limited")
    counts = {
        f"a|t{n:04d}|mod{a}.fn|{o}": 1 for n in range(tokens) for a in range(80) for o in outcomes
    }
    for back in range(30):
        asyncio.run(_record(env, day - back * 86400, counts))


async def _record(env: BenchEnv, now: float, counts: dict[str, int]) -> None:
    store = AsyncPolicyStore(async_client(env.url), env.settings.keyring(), clock=Clock(now))
    try:
        await store.record({}, {env.ws: counts})
    finally:
        await store.client.aclose()


async def flush(env: BenchEnv, keys: int) -> float:
    workspaces = [env.ws] + [f"ws_bench{n:07d}" for n in range(9)]
    entries = [_entry(workspaces[n % 10], KeyKind.TOKEN, f"k{n:011d}", n) for n in range(keys)]
    counter = UsageCounter(time.time)
    for entry in entries:
        for action in ACTIONS:
            entry.tally[action] += 1
    store = AsyncPolicyStore(async_client(env.url), env.settings.keyring())
    try:
        started = time.perf_counter()
        await store.record({}, counter.collect(entries))
        return (time.perf_counter() - started) * 1000
    finally:
        await store.client.aclose()


def oversized_chart(env: BenchEnv, day: float, fields: int, runs: int) -> None:
    """30 day buckets of ``fields`` origin fields each (written straight, as before the
    bound), in a workspace of their own; the 30-day chart's read of them."""
    client: redis.Redis = env.client
    ws = "ws_bench9999999"
    source = schema.usage(ws, DAY.code, DAY.start(day))
    pipe = client.pipeline(transaction=False)
    for first in range(0, fields, 1000):
        batch = range(first, min(first + 1000, fields))
        pipe.hset(source, mapping={f"g|publishable|-|https://o{n}.evil.example": 1 for n in batch})
    pipe.execute()
    dumped = client.dump(source)
    assert isinstance(dumped, bytes)
    for back in range(1, 30):
        target = schema.usage(ws, DAY.code, DAY.start(day - back * 86400))
        client.restore(target, 0, dumped, replace=True)
    since = 29 * 86400 + (time.time() - day)
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        try:
            report = env.store.usage(ws, since=since)
        except StoreUnavailable as error:  # the read outlasted the client's timeout
            took = (time.perf_counter() - t0) * 1000
            print(f"30-day chart of 30 oversized buckets: failed after {took:.0f} ms: {error}")
            return
        times.append((time.perf_counter() - t0) * 1000)
    partial = getattr(report, "partial", "n/a")
    print(
        f"30-day chart of 30 oversized buckets ({fields:,} fields each): median "
        f"{statistics.median(times[1:]):.0f} ms, worst {max(times[1:]):.0f} ms; "
        f"partial: {partial}, origins counted: {sum(report.origins.values()):,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=1440)
    parser.add_argument("--per-minute", type=int, default=60)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--oversized", type=int, default=86_407)
    args = parser.parse_args()
    with bench_env() as env:
        day = DAY.start(time.time()) + 60.0  # the day's first minute
        started = time.perf_counter()
        asyncio.run(hostile_day(env, args.minutes, args.per_minute, day))
        took = time.perf_counter() - started
        sent = args.minutes * PROCESSES * args.per_minute
        print(
            f"hostile day: {args.minutes} minutes x {PROCESSES} processes x "
            f"{args.per_minute} new origins = {sent:,} distinct origins ({took:.1f} s)"
        )
        day_key = schema.usage(env.ws, DAY.code, DAY.start(day))
        hours = [schema.usage(env.ws, HOUR.code, s) for s in HOUR.starts(day, day + 86399)]
        minutes = [schema.usage(env.ws, MINUTE.code, MINUTE.start(day + 60 * m)) for m in (0, 1)]
        client = env.client
        print(f"  day bucket: {client.hlen(day_key)} fields, {client.memory_usage(day_key)} B")
        print(f"  largest hour bucket: {max(client.hlen(h) for h in hours)} fields")
        print(f"  a minute bucket: {max(client.hlen(m) for m in minutes)} fields")
        chart_buckets(env, day, args.tokens)
        sizes = [
            client.hlen(schema.usage(env.ws, DAY.code, DAY.start(day - b * 86400)))
            for b in range(30)
        ]
        times = []
        for _ in range(args.runs + 1):
            t0 = time.perf_counter()
            report = env.store.usage(env.ws, since=29 * 86400 + (time.time() - day))
            times.append((time.perf_counter() - t0) * 1000)
        assert report.grain is DAY and len(report.starts) >= 30, len(report.starts)
        print(
            f"30-day chart (store.usage, day grain): {min(sizes)}-{max(sizes)} fields a bucket "
            f"(publishable at its bound, {args.tokens} tokens at theirs): median "
            f"{statistics.median(times[1:]):.0f} ms, worst {max(times[1:]):.0f} ms"
        )
        oversized_chart(env, day, args.oversized, args.runs)
        flushes = [asyncio.run(flush(env, args.keys)) for _ in range(args.runs)]
        print(
            f"flush of {args.keys:,} active keys (3 actions, 10 workspaces): first "
            f"{flushes[0]:.0f} ms, median {statistics.median(flushes):.0f} ms, "
            f"worst {max(flushes):.0f} ms"
        )


if __name__ == "__main__":
    main()
