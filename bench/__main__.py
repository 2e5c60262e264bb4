"""``python -m bench [--quick] [--output bench/RESULTS.md]``: every case, then one table.

Options: ``--only 1,3`` runs some cases; ``--loadgen wrk|python`` forces the load generator
of cases 2 and 8 (default: wrk when installed); ``--check-interval`` sets the gateway processes'
version-check interval in case 3 (default: the gateway's own; 0.25 s with ``--quick``
so the smoke run stays short), ``--gateway-options JSON`` passes more middleware options to
those processes (experiments: ``'{"reconnect_min": 0.001}'``); ``--wait-idle S`` waits up to
S seconds for other processes to leave the CPU first. Exit status 1 if a case failed to run
(a missed target is reported in the table, not as a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    authz,
    catalog_scale,
    cold_key,
    flood,
    http_load,
    inprocess,
    memory,
    propagation,
    rate_limits,
    redis_load,
    restricted,
    usage_counts,
)
from bench.report import (
    CaseResult,
    OthersMeter,
    background_load,
    machine,
    render_results,
    render_table,
    write_results,
)
from bench.setup import BenchEnv, bench_env, cpu_plan, pinned

BUDGET_SECONDS = 300
BUSY = 0.10  # share of the CPU used by others before the run that makes timings unreliable


@dataclass(frozen=True)
class Sizes:
    rounds: int
    per_round: int
    http_rounds: int
    http_seconds: float
    shared_rounds: int
    trials: int
    killed_trials: int
    lanes: int
    check_interval: float | None  # None: the gateway's default
    cold_keys: int
    steady_requests: int
    steady_seconds: float
    memory_keys: int
    memory_workspaces: int
    flood_keys: int
    authz_rounds: int
    authz_seconds: float
    usage_requests: int
    usage_keys: int
    limit_seconds: float
    shape_runs: int


FULL = Sizes(
    60, 500, 16, 1.0, 10, 100, 100, 10, None, 1000, 10_000, 2.0, 100_000, 10, 10_000, 5, 2.0,
    10_000, 10_000, 60.0, 3,
)  # fmt: skip
QUICK = Sizes(
    3, 200, 1, 1.0, 1, 5, 3, 2, 0.25, 20, 1000, 0.3, 2000, 2, 300, 1, 1.0, 1000, 500, 31.0, 1
)  # fmt: skip


def bounded(coro: Coroutine[Any, Any, CaseResult], seconds: float) -> CaseResult:
    """Run one case's coroutine, cancelled if it outlives ``seconds``."""
    return asyncio.run(asyncio.wait_for(coro, seconds))


def cases(
    sizes: Sizes, loadgen: str, gateway_options: dict[str, Any]
) -> dict[str, Callable[[BenchEnv], CaseResult]]:
    """Case number -> a function of the environment that runs it (pinned as it needs).

    Each step inside a case is bounded in requests and seconds; each case as a whole is
    bounded too (the limits below are far above what a healthy run takes).
    """
    servers = cpu_plan()[0]

    def case1(env: BenchEnv) -> CaseResult:
        with pinned(servers):
            return bounded(inprocess.run(env, rounds=sizes.rounds, per_round=sizes.per_round), 60)

    def case2(env: BenchEnv) -> CaseResult:
        run = http_load.run(
            env,
            rounds=sizes.http_rounds,
            seconds=sizes.http_seconds,
            shared_rounds=sizes.shared_rounds,
            loadgen=loadgen,
        )
        return bounded(run, 150)

    def case3(env: BenchEnv) -> CaseResult:
        run = propagation.run(
            env,
            trials=sizes.trials,
            killed_trials=sizes.killed_trials,
            lanes=sizes.lanes,
            check_interval=sizes.check_interval,
            options=gateway_options,
        )
        return bounded(run, 150)

    def case4(env: BenchEnv) -> CaseResult:
        with pinned(servers):
            return bounded(cold_key.run(env, keys=sizes.cold_keys), 60)

    def case5(env: BenchEnv) -> CaseResult:
        run = redis_load.run(env, requests=sizes.steady_requests, seconds=sizes.steady_seconds)
        with pinned(servers):
            return bounded(run, 60)

    def case6(env: BenchEnv) -> CaseResult:  # a child process, with its own timeout
        return memory.run(env, keys=sizes.memory_keys, workspaces=sizes.memory_workspaces)

    def case7(env: BenchEnv) -> CaseResult:
        return bounded(flood.run(env, keys=sizes.flood_keys, seconds=60.0), 120)

    def case8(env: BenchEnv) -> CaseResult:
        run = authz.run(
            env, rounds=sizes.authz_rounds, seconds=sizes.authz_seconds, loadgen=loadgen
        )
        return bounded(run, 150)

    def case9(env: BenchEnv) -> CaseResult:
        run = usage_counts.run(
            env,
            rounds=sizes.rounds,
            per_round=sizes.per_round,
            requests=sizes.usage_requests,
            active_keys=sizes.usage_keys,
        )
        with pinned(servers):
            return bounded(run, 120)

    def case10(env: BenchEnv) -> CaseResult:
        run = rate_limits.run(
            env,
            seconds=sizes.limit_seconds,
            rounds=sizes.rounds,
            per_round=sizes.per_round,
            shape_runs=sizes.shape_runs,
        )
        return bounded(run, sizes.limit_seconds + 120 + 60 * sizes.shape_runs)

    def case12(env: BenchEnv) -> CaseResult:
        return bounded(catalog_scale.run(env), 300)

    def case13(env: BenchEnv) -> CaseResult:
        with pinned(servers):
            run = restricted.run(env, rounds=sizes.rounds, per_round=sizes.per_round)
            return bounded(run, 60)

    return {
        "1": case1, "2": case2, "3": case3, "4": case4, "5": case5, "6": case6, "7": case7,
        "8": case8, "9": case9, "10": case10, "12": case12, "13": case13,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts: the CI smoke run")
    parser.add_argument("--output", type=Path, help="write the results file (bench/RESULTS.md)")
    parser.add_argument(
        "--only", default="1,2,3,4,5,6,7,8,9,10,12,13", help="comma-separated case numbers"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--check-interval", type=float, help="case 3's gateway check_interval")
    parser.add_argument(
        "--gateway-options", default="{}", metavar="JSON",
        help="more KeyGateMiddleware options for case 3's processes (experiments)",
    )  # fmt: skip
    parser.add_argument(
        "--wait-idle", type=float, default=0, metavar="S",
        help="wait up to S seconds for the machine to be idle before starting",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.check_interval is not None:
        sizes = Sizes(**{**sizes.__dict__, "check_interval": args.check_interval})
    selected = [c.strip() for c in args.only.split(",") if c.strip()]
    runners = cases(sizes, args.loadgen, json.loads(args.gateway_options))
    unknown = [c for c in selected if c not in runners]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    background = background_load()
    waited = time.monotonic() + args.wait_idle
    while background > BUSY and time.monotonic() < waited:
        background = background_load(2.0)
    if background > BUSY:
        print(
            f"warning: the machine is {background:.0%} busy before the run: timings will be "
            "unreliable (run the bench on an idle machine)",
            file=sys.stderr,
        )
    results: list[CaseResult] = []
    failed = False
    others = OthersMeter()
    started = time.perf_counter()
    with bench_env(quick=args.quick) as env:
        for number in selected:
            print(f"case {number}...", end=" ", file=sys.stderr, flush=True)
            case_started = time.perf_counter()
            case_others = OthersMeter()
            try:
                result = runners[number](env)
            except Exception as exc:
                failed = True
                traceback.print_exc(file=sys.stderr)
                result = CaseResult(f"{number} (failed)").row(
                    "error", f"{type(exc).__name__}: {exc}", "runs", False
                )
            result.seconds = time.perf_counter() - case_started
            result.others = case_others.share()
            print(f"{result.seconds:.1f} s", file=sys.stderr, flush=True)
            results.append(result)
    total = time.perf_counter() - started
    during = others.share()
    rows = [r for case in results for r in case.rows]
    print(render_table(rows), flush=True)
    if max(background, during) > BUSY:
        busy = [c.name for c in results if c.others > BUSY]
        print(
            f"\nwarning: other processes used {background:.0%} of the CPU before the run and "
            f"{during:.0%} during it ({', '.join(busy) or 'spread out'}): timings are unreliable"
        )
    print(
        f"\n{len(results)} cases in {total:.0f} s"
        + (" (over the 5-minute budget)" if total > BUDGET_SECONDS else "")
    )
    if args.output:
        command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        write_results(
            args.output,
            render_results(results, machine(background, during), command.strip(), total),
        )
        print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
