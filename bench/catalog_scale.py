"""Case 12: catalogs and paths at the sizes an admin or a caller can choose (issue 25).

- ``keystile catalog load`` of 1,000 and 20,000 routes: the real command, a child process
  each, wall time (the 1,000-route run is the baseline: a linear load costs about 20x less
  above the interpreter's start-up);
- a started gateway while the store's catalog changes to 20,000 routes: the longest its
  event loop went without running a 1 ms ticker (the catalog is parsed off it, its routes
  compiled as requests need them), and the longest pass of the cycle collector meanwhile
  (``gc.callbacks``; a pass holds the GIL, whichever thread runs it);
- the slowest match of a hostile path as long as the gateway admits (``max_path_length``)
  against templates the catalog accepts, against an ordinary path as the baseline;
- unique paths (never memoised) against 300 templated routes: routed per second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.apps import gateway_app
from bench.report import CaseResult
from bench.setup import BenchEnv
from gateway.config import GatewayConfig
from gateway.routing.router import Router
from policies import Catalog

NAME = "12 catalogs and paths"
SIZES = (1_000, 20_000)


def catalog_data(routes: int) -> dict[str, Any]:
    """``routes`` routes over 50 modules: static, templated, typed, catch-all-ish."""
    modules: dict[str, Any] = {}
    table = []
    for i in range(routes):
        module, functionality = f"m{i % 50}", f"f{i}"
        modules.setdefault(module, {"functionalities": {}})["functionalities"][functionality] = {}
        path = (f"/r{i}", f"/r{i}/{{id}}", f"/{module}/x{i}/{{n:int}}", f"/{module}/s{i}")[i % 4]
        table.append(
            {"path": path, "methods": ["GET", "POST"], "action": f"{module}.{functionality}"}
        )
    return {"modules": modules, "routes": table}


def load_seconds(env: BenchEnv, path: Path) -> float:
    argv = [sys.executable, "-m", "keystile", "catalog", "load", str(path), "--force"]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env.environ(), capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"catalog load failed: {done.stderr.strip()}")
    return seconds


class CollectorPasses:
    """The longest pass of the cycle collector while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.count = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


async def loop_stall_ms(
    env: BenchEnv, big: Path, routes: int
) -> tuple[float, float, CollectorPasses]:
    """The longest gap of a 1 ms ticker while a started gateway takes the big catalog (the
    command storing it runs meanwhile), and in a second of it idle before (the baseline);
    the collector's passes meanwhile."""
    gate, _ = gateway_app(env.settings, None)  # type: ignore[arg-type]  # the store's
    passes = CollectorPasses()
    await gate.start()
    try:
        await gate.runtime.catalog.ensure_router()
        worst = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                worst = max(worst, now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(1.0)
        quiet, worst = worst, 0.0  # a second of the idle gateway: the machine's own noise
        gc.callbacks.append(passes)
        await asyncio.to_thread(load_seconds, env, big)
        deadline = time.monotonic() + 60
        while len(gate.runtime.catalog.router.action_names) < routes:  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not take the new catalog")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # and while the new router serves
        stop.set()
        await task
        return worst * 1000, quiet * 1000, passes
    finally:
        if passes in gc.callbacks:
            gc.callbacks.remove(passes)
        await gate.stop()


def slowest_match_ms(paths: list[str], router: Router) -> float:
    worst = 0.0
    for path in paths:
        for method in ("GET", "POST"):
            started = time.perf_counter()
            router.resolve(method, path)
            worst = max(worst, time.perf_counter() - started)
    return worst * 1000


async def run(env: BenchEnv) -> CaseResult:
    result = CaseResult(NAME)
    small, big = (200, 2_000) if env.quick else SIZES
    files = {}
    for size in (small, big):
        files[size] = env.tmp / f"catalog-{size}.json"
        files[size].write_text(json.dumps(catalog_data(size)))
    try:
        seconds = {size: load_seconds(env, files[size]) for size in (small, big)}
        result.row(
            f"catalog load {big:,} routes s ({small:,}: baseline)",
            f"{seconds[big]:.2f} ({small:,}: {seconds[small]:.2f}; "
            f"x{seconds[big] / seconds[small]:.1f})",
            "<= 2 s",
            seconds[big] <= 2.0,
        )
        env.store.save_catalog(Catalog.from_dict(catalog_data(small)), force=True)
        stall, quiet, passes = await loop_stall_ms(env, files[big], big)
        result.row(
            f"gateway loop: longest stall taking {big:,} routes, ms (idle gateway: baseline)",
            f"{stall:.1f} (idle: {quiet:.1f})",
            "<= 50",
            stall <= 50,
        )
        result.row(
            "gateway: longest collector pass meanwhile, ms (passes)",
            f"{passes.longest * 1000:.1f} ({passes.count})",
        )
    finally:
        env.store.save_catalog(env.catalog, force=True)
    hostile_router = Router(
        Catalog.from_dict(
            {
                "modules": {"a": {"functionalities": {f"f{i}": {} for i in range(6)}}},
                "routes": [
                    {"path": "/files/{name}.json", "action": "a.f0"},
                    {"path": "/v{version}/{a}/{b}/{c}", "action": "a.f1"},
                    {"path": "/{p:path}/edit", "action": "a.f2"},
                    {"path": "/x/{a:int}/{b:float}/{c:uuid}", "action": "a.f3"},
                    {"path": "/{p:path}/{q}/z", "action": "a.f4"},
                    {"path": "/g/{p:path}", "action": "a.f5"},
                ],
            }
        )
    )
    limit = GatewayConfig().max_path_length
    tail = limit - 8
    hostile = [
        "/files/" + "." * tail,
        "/files/" + "a." * (tail // 2) + "/",
        "/v" + "1" * tail,
        "/" + "/edit" * (tail // 5) + "x",
        "/" + "/q/" * (tail // 3) + "y",
        "/x/" + "1" * tail + "/1.5/z",
        "/" + "a/" * (tail // 2),
    ]
    ordinary = ["/files/report.json", "/v1/a/b/c", "/docs/readme/edit", "/x/1/1.5/z"]
    worst = slowest_match_ms(hostile, hostile_router)
    usual = slowest_match_ms(ordinary, hostile_router)
    result.row(
        f"slowest match of a {limit}-char hostile path, ms (ordinary path: baseline)",
        f"{worst:.2f} (ordinary: {usual:.3f})",
        "<= 5",
        worst <= 5.0,
    )
    templated = Router(Catalog.from_dict(catalog_data(1_200)))  # 300 templated routes among them
    count = 20_000
    started = time.perf_counter()
    for i in range(count):
        templated.resolve("GET", f"/r{(i * 4 + 1) % 1200}/{i}")
    unique = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(count):
        templated.match("GET", "/r5/7")
    memoised = count / (time.perf_counter() - started)
    result.row(
        "unique paths routed per s (memoised: baseline)",
        f"{unique:,.0f} (memoised: {memoised:,.0f})",
    )
    result.details.append(
        "catalog load: the real command in a child process (interpreter start-up included); "
        "the gateway parses and compiles a changed catalog in a worker thread and routes each "
        "request past only the routes its first path segment can match (gateway.routing."
        "segment_index); templates whose pattern backtracks (two parameters in one segment, two "
        "':path' parameters) are refused by the catalog"
    )
    return result
