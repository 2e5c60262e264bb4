"""Case 10: rate limits (:mod:`gateway.limits.limiter`), accuracy across processes and cost.

(a)-(e) where the user stands: fresh processes, a process joining a spent window, a
    scale-out, a restart, Redis down (:mod:`bench.rate_limit_shapes`);
steady accuracy: 4 uvicorn gateway processes, a publishable key limited to 1,000 requests per
    10 s, offered three times that (300 requests a second, open loop) spread unevenly over
    the processes (40/30/20/10 %); the admitted count of every whole window, read from the
    gateways' shared counters in Redis (checked against the 200s the client got), as a
    ratio to the limit: min / median / max;
cost: case 1's in-process hit with a limit set (1e9 a day: never reached) and without,
    on the same gateway, interleaved rounds in one run: the difference per request;
commands: Redis commands per 10,000 limited requests, over the steady run: only the sync
    pipelines (``EVALSHA`` of :data:`policies.limits.counters.SYNC`) and each process's one
    lookup.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from bench import apps
from bench import rate_limit_shapes as shapes
from bench.httpclient import Connection, bearer, request_bytes
from bench.inprocess import _timed, caller, make_scope
from bench.redisstats import raw_stats
from bench.report import CaseResult
from bench.servers import uvicorn_servers
from bench.setup import ACTOR, BenchEnv
from policies.limits.counters import counter

NAME = "10 rate limits"
QUOTA, WINDOW = 1000, 10
OFFERED = 3 * QUOTA / WINDOW  # requests a second
SHARES = (0.4, 0.3, 0.2, 0.1)
CONNECTIONS = 4  # per process
TARGET = (0.95, 1.05)
TARGET_US = 1.0


async def run(
    env: BenchEnv, *, seconds: float, rounds: int, per_round: int, shape_runs: int
) -> CaseResult:
    result = CaseResult(NAME)
    await _shapes(env, result, shape_runs)
    limited = env.store.create_workspace("Limited", actor=ACTOR)
    ws = limited.workspace_id
    env.store.limits.replace(ws, "pk", [f"{QUOTA}/{WINDOW}s"], actor=ACTOR)
    statuses, started, ended, commands = await _accuracy(env, limited.publishable_key, seconds)
    admitted = statuses.count(200)
    buckets = range(int(started // WINDOW), int(ended // WINDOW) + 1)
    counts = [int(env.client.get(counter(ws, "pk", "*", WINDOW, b)) or 0) for b in buckets]
    whole = counts[1:-1]  # the first and last windows are partial
    ratios = sorted(n / QUOTA for n in whole)
    ok = bool(ratios) and TARGET[0] <= ratios[0] and ratios[-1] <= TARGET[1]
    ok = ok and sum(counts) == admitted
    low, mid, high = (ratios[0], statistics.median(ratios), ratios[-1]) if ratios else (0, 0, 0)
    result.row(
        f"steady: admitted per {WINDOW} s window / limit, 4 processes (min/median/max)",
        f"x{low:.3f} / x{mid:.3f} / x{high:.3f}",
        f"x{TARGET[0]}-x{TARGET[1]}",
        ok,
    )
    result.details.append(
        f"steady: {len(statuses)} requests offered in {ended - started:.1f} s "
        f"({len(statuses) / (ended - started):.0f}/s, {OFFERED:.0f}/s asked), {admitted} "
        f"admitted; per window: {counts} (whole windows: {len(whole)}); the shared "
        f"counters' total {'equals' if sum(counts) == admitted else 'DIFFERS FROM'} the "
        f"client's 200s; other answers: {sorted(set(statuses) - {200, 429})}"
    )
    generous = env.store.create_workspace("Limited, never reached", actor=ACTOR)
    env.store.limits.replace(generous.workspace_id, "pk", ["1000000000/day"], actor=ACTOR)
    delta, with_limit, without = await _cost(env, generous.publishable_key, rounds, per_round)
    result.row(
        "cost: hit, limited - unlimited key: us/request",
        f"{delta:+.2f} ({with_limit:.1f} vs {without:.1f})",
        f"<= +{TARGET_US}",
        delta <= TARGET_US,
    )
    evalsha = commands.get("evalsha", 0) + commands.get("eval", 0)
    per_10k = evalsha * 10_000 / max(1, len(statuses))
    result.row(
        "commands: EVALSHA per 10,000 limited requests (syncs + 4 lookups)", f"{per_10k:.0f}"
    )
    inner = {k: v for k, v in commands.items() if k not in ("evalsha", "eval")}
    result.details.append(
        f"commands, during the steady run: EVALSHA {evalsha} for {len(statuses)} requests "
        "(4 of them the processes' key lookups, the rest sync pipelines); commands those "
        "scripts ran and "
        f"periodic checks: {', '.join(f'{k.upper()} {v}' for k, v in sorted(inner.items()))}"
    )
    return result


SHAPES = {
    "(a) 4 fresh processes, 600 concurrent": shapes.fresh,
    "(b) a process started after the limit was spent": shapes.joined_after_spent,
    "(c) scale-out 2 -> 4 processes mid-window, under load": shapes.scale_out,
    "(d) a restart mid-window, under load": shapes.restart,
}


async def _shapes(env: BenchEnv, result: CaseResult, runs: int) -> None:
    """(a)-(e) of :mod:`bench.rate_limit_shapes`: admitted / allowed, min and max of runs."""
    for name, shape in SHAPES.items():
        found = [await shape(env) for _ in range(runs)]
        ratios = [admitted / allowed for admitted, allowed, _ in found]
        result.row(
            f"{name}: admitted / limit (min/max of {runs})",
            f"x{min(ratios):.2f} / x{max(ratios):.2f}",
            f"x{TARGET[0]}-x{TARGET[1]}",
            TARGET[0] <= min(ratios) and max(ratios) <= TARGET[1],
        )
        result.details.append(
            f"{name.split()[0]} per run: "
            + "; ".join(f"{note} (allowed {allowed})" for _, allowed, note in found)
        )
    counts, note = await shapes.redis_down(env)
    ratios = [n / shapes.LIMIT for n in counts]
    result.row(
        "(e) Redis down, 4 fresh processes: admitted / limit, that window / the next",
        " / ".join(f"x{r:.2f}" for r in ratios),
        "<= x1.00 / measured",
        ratios[0] <= 1.0,
    )
    result.details.append(f"(e) {note}")


async def _accuracy(
    env: BenchEnv, key: str, seconds: float
) -> tuple[list[int], float, float, dict[str, int]]:
    request = request_bytes(apps.PATH, bearer(key))
    statuses: list[int] = []
    async with uvicorn_servers(env, "gateway", len(SHARES)) as servers:
        env.client.config_resetstat()
        started = time.time()
        deadline = time.monotonic() + seconds

        async def lane(port: int, rate: float) -> None:
            conn = await Connection.open(port)
            period, due = 1.0 / rate, time.monotonic()
            try:
                while due < deadline:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    statuses.append(await conn.status(request))
                    due += period
            finally:
                await conn.close()

        await asyncio.gather(
            *(
                lane(server.port, OFFERED * share / CONNECTIONS)
                for server, share in zip(servers, SHARES, strict=True)
                for _ in range(CONNECTIONS)
            )
        )
        ended = time.time()
    commands = raw_stats(env.client)  # the processes are gone: their last syncs included
    return statuses, started, ended, {k: v for k, v in commands.items() if v}


async def _cost(env: BenchEnv, key: str, rounds: int, per_round: int) -> tuple[float, float, float]:
    gate, gated = apps.gateway_app(env.settings, env.catalog)
    await gate.start()
    try:
        calls = {
            "limited": caller(gated, make_scope(key)),
            "unlimited": caller(gated, make_scope(env.publishable_key())),
        }
        for name, call in calls.items():
            if {await call() for _ in range(200)} != {200}:
                raise RuntimeError(f"{name}: not 200")
        samples: dict[str, list[float]] = {"limited": [], "unlimited": []}
        for r in range(rounds):
            for name in ("limited", "unlimited") if r % 2 == 0 else ("unlimited", "limited"):
                samples[name].append(await _timed(calls[name], per_round))
            # In-process calls never wait, so nothing else runs between them; a server
            # waits on its sockets and the limit sync runs then. Let it, between rounds.
            await asyncio.sleep(0.005)
        if {await call() for call in calls.values()} != {200}:
            raise RuntimeError("a timed key was refused: the comparison would be void")
    finally:
        await gate.stop()
    deltas = [a - b for a, b in zip(samples["limited"], samples["unlimited"], strict=True)]
    return (
        statistics.median(deltas),
        statistics.median(samples["limited"]),
        statistics.median(samples["unlimited"]),
    )
