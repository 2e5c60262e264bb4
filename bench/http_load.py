"""Case 2: the three apps under uvicorn (one worker each), driven over loopback.

The servers run side by side, pinned to the first half of the cores; the load generator
(wrk ``-t1 -c32 --latency``, or the Python client when wrk is absent) and Redis to the
other half. Each round loads every app for the same duration, in a rotating order; an
app's numbers are the medians over rounds (requests per second, p50, p99), its ratio the
median of its per-round ratios to bare. This machine's speed drifts by tens of percent from
second to second, so a second measure follows: bare and gateway loaded at the same time,
sharing one core (each gets half of it), whose throughput ratio is immune to those drifts.
Every step is bounded by its duration and by a request budget.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bench.apps import PATH, VARIANTS
from bench.httpclient import bearer
from bench.loadgen import LoadResult, quartiles, run_python, run_wrk, wrk_path
from bench.report import CaseResult
from bench.servers import uvicorn_servers
from bench.setup import BenchEnv, cpu_plan

NAME = "2 HTTP uvicorn"
TARGET_THROUGHPUT = 0.95
CONNECTIONS = 32
MAX_REQUESTS = 500_000  # far above what one Python worker serves in a step: a safety bound

Runner = Callable[..., LoadResult]


async def run(
    env: BenchEnv, *, rounds: int, seconds: float, shared_rounds: int = 0, loadgen: str = "auto"
) -> CaseResult:
    result = CaseResult(NAME)
    servers_cpus, load_cpus = cpu_plan()
    use_wrk = loadgen == "wrk" or (loadgen == "auto" and wrk_path() is not None)
    runner: Runner = run_wrk if use_wrk else run_python
    headers = bearer(env.publishable_key())
    runs: dict[str, list[LoadResult]] = {v: [] for v in VARIANTS}
    async with (
        uvicorn_servers(env, "bare", cpus=servers_cpus) as bare,
        uvicorn_servers(env, "gateway", cpus=servers_cpus) as gate,
        uvicorn_servers(env, "naive", cpus=servers_cpus) as naive,
    ):
        ports = {"bare": bare[0].port, "gateway": gate[0].port, "naive": naive[0].port}

        def load(variant: str, duration: float) -> LoadResult:
            return runner(
                ports[variant], PATH, headers, connections=CONNECTIONS, duration=duration,
                max_requests=MAX_REQUESTS, cpus=load_cpus,
            )  # fmt: skip

        for variant in VARIANTS:  # warm-up: imports, key cache, Redis connections
            warm = load(variant, 1.0)
            if warm.errors:
                raise RuntimeError(f"{variant}: {warm.errors} errors during warm-up")
        for r in range(rounds):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
            for variant in order:
                runs[variant].append(load(variant, seconds))
        # Bare and gateway at once, sharing one core: the scheduler gives each half of it,
        # so their throughput ratio is their cost ratio, and the machine's drifts hit both.
        shared: list[float] = []
        with ThreadPoolExecutor(2) as pool:
            for _ in range(shared_rounds):
                b, g = pool.map(lambda v: load(v, 2 * seconds), ("bare", "gateway"))
                shared.append(g.rps / b.rps)

    def med(variant: str, pick: Callable[[LoadResult], float]) -> float:
        return statistics.median(pick(x) for x in runs[variant])

    def ratio(variant: str) -> float:
        """Median over rounds of variant/bare, each pair measured back to back."""
        pairs = zip(runs[variant], runs["bare"], strict=True)
        return statistics.median(x.rps / b.rps for x, b in pairs)

    base_p50 = med("bare", lambda x: x.p50_ms)
    base_p99 = med("bare", lambda x: x.p99_ms)
    labels = {"bare": "a bare", "gateway": "b gateway", "naive": "c BaseHTTPMiddleware+Redis"}
    for variant in VARIANTS:
        rps, p50, p99 = (
            med(variant, lambda x: x.rps),
            med(variant, lambda x: x.p50_ms),
            med(variant, lambda x: x.p99_ms),
        )
        label, share = labels[variant], ratio(variant)
        met = share >= TARGET_THROUGHPUT if variant == "gateway" else None
        target = ">= x0.95" if variant == "gateway" else ""
        result.row(f"{label}: req/s", f"{rps:,.0f} (x{share:.3f})", target, met)
        result.row(
            f"{label}: p50 / p99 ms",
            f"{p50:.2f} / {p99:.2f} (x{p50 / base_p50:.2f} / x{p99 / base_p99:.2f})",
        )
        errors = sum(x.errors for x in runs[variant])
        pairs = [x.rps / b.rps for x, b in zip(runs[variant], runs["bare"], strict=True)]
        low, high = quartiles(pairs)
        result.details.append(
            f"{label}: req/s per round "
            + ", ".join(f"{x.rps:,.0f}" for x in runs[variant])
            + f"; ratio to bare x{share:.3f}, interquartile x{low:.3f}-x{high:.3f}; "
            + f"{sum(x.requests for x in runs[variant]):,} requests, {errors} errors"
        )
    if shared:
        low, high = quartiles(shared)
        result.row(
            "b/a req/s sharing one core", f"x{statistics.median(shared):.3f}", ">= x0.95",
            statistics.median(shared) >= TARGET_THROUGHPUT,
        )  # fmt: skip
        result.details.append(
            f"sharing one core ({len(shared)} runs of {2 * seconds:g} s, both loaded at once): "
            f"gateway/bare x{statistics.median(shared):.3f}, interquartile "
            f"x{low:.3f}-x{high:.3f}; per run " + ", ".join(f"x{x:.3f}" for x in shared)
        )
    tool = runs["bare"][0].tool if runs["bare"] else "?"
    result.details.append(
        f"load generator: {tool}, 1 thread, {CONNECTIONS} connections, {rounds} rounds x "
        f"{seconds:g} s per app (rotating order), servers on cores {sorted(servers_cpus or [])},"
        f" load generator and Redis on cores {sorted(load_cpus or [])}; medians over rounds"
        "; ratios are medians of per-round ratios to bare"
    )
    return result
