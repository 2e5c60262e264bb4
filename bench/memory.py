"""Case 6: resident memory of a gateway process per cached key.

The bench mints ``keys`` workspace tokens (spread over a few workspaces, through the
store's own operation, pipelined) and hands them to a child process (``python -m
bench.memory --child FILE``): a gateway in front of the minimal app, ``cache_size`` large
enough for all of them. The child first caches ``WARM`` keys (so connections, code paths and
the version check are warm), measures RSS (``/proc/self/statm``, after ``gc.collect()``),
feeds every other key through ASGI (one cache miss each, 64 at a time), lets one version
check run, and measures again: growth / keys fed = bytes per cached key. It also times the
version check itself with every key cached (it should not grow with the cache: it touches
the workspaces whose version changed and the expired entries, no more).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.apps import bench_catalog, gateway_app
from bench.inprocess import caller, make_scope
from bench.report import CaseResult
from bench.setup import ROOT, BenchEnv, cpu_plan, create_tokens
from policies import Settings

NAME = "6 memory"
WARM = 1000  # at most; a tenth of the keys in small runs
CONCURRENCY = 64
TARGET_BYTES = 2048


def rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


async def child(path: Path) -> dict[str, float]:
    keys = path.read_text().split()
    warm = min(WARM, len(keys) // 10)
    gate, app = gateway_app(Settings.load(), bench_catalog(), cache_size=len(keys) + WARM)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10), "gateway did not subscribe"

        async def feed(batch: list[str]) -> int:
            refused = 0
            for i in range(0, len(batch), CONCURRENCY):
                chunk = batch[i : i + CONCURRENCY]
                statuses = await asyncio.gather(*(caller(app, make_scope(k))() for k in chunk))
                refused += sum(s != 200 for s in statuses)
            return refused

        refused = await feed(keys[:warm])
        await gate.invalidation.wait_check(5)
        gc.collect()
        before, cached_before = rss(), len(gate.cache)
        started = time.perf_counter()
        refused += await feed(keys[warm:])
        feed_seconds = time.perf_counter() - started
        await gate.invalidation.wait_check(5)
        reader = gate.runtime.reader
        assert reader is not None
        checks = []
        for _ in range(3):
            started = time.perf_counter()
            await gate.invalidation.check(reader)
            checks.append((time.perf_counter() - started) * 1e3)
        gc.collect()
        after, cached_after = rss(), len(gate.cache)
    finally:
        await gate.stop()
    return {
        "before": before,
        "after": after,
        "cached_before": cached_before,
        "cached_after": cached_after,
        "refused": refused,
        "feed_seconds": feed_seconds,
        "check_ms": statistics.median(checks),
    }


def run(env: BenchEnv, *, keys: int, workspaces: int) -> CaseResult:
    result = CaseResult(NAME)
    started = time.perf_counter()
    tokens: list[str] = []
    for i in range(workspaces):
        ws = env.new_workspace(f"Memory {i}").workspace_id
        tokens += create_tokens(env.store, ws, (keys + min(WARM, keys // 10)) // workspaces + 1)
    minted = time.perf_counter() - started
    path = env.tmp / "memory-keys.txt"
    path.touch(mode=0o600)
    path.write_text("\n".join(tokens[: keys + min(WARM, keys // 10)]))
    argv = [sys.executable, "-m", "bench.memory", "--child", str(path)]
    servers = cpu_plan()[0]
    if servers:
        argv = ["taskset", "-c", ",".join(map(str, sorted(servers))), *argv]
    out = subprocess.run(
        argv, cwd=ROOT, env=env.environ(), capture_output=True, text=True, timeout=240, check=False
    )
    path.unlink()
    if out.returncode:
        raise RuntimeError(f"memory child failed: {out.stderr.strip().splitlines()[-3:]}")
    m = json.loads(out.stdout)
    fed = m["cached_after"] - m["cached_before"]
    per_key = (m["after"] - m["before"]) / fed if fed else float("inf")
    mib = 1024 * 1024
    result.row(
        f"RSS per cached key ({fed:,} keys)",
        f"{per_key:,.0f} B ({(m['after'] - m['before']) / mib:.1f} MiB per {fed:,})",
        "<= 2 KB",
        per_key <= TARGET_BYTES,
    )
    result.row(
        f"version check with {m['cached_after']:,.0f} keys cached", f"{m['check_ms']:.1f} ms"
    )
    result.details.append(
        f"RSS {m['before'] / mib:.1f} MiB with {m['cached_before']:,.0f} keys cached -> "
        f"{m['after'] / mib:.1f} MiB with {m['cached_after']:,.0f}; {m['refused']:.0f} refused; "
        f"fed in {m['feed_seconds']:.1f} s ({CONCURRENCY} concurrent misses); "
        f"{len(tokens):,} tokens minted over {workspaces} workspaces in {minted:.1f} s"
    )
    result.details.append(
        "the version check (every check_interval) is one pipelined HGET per cached workspace; "
        "on the event loop it drops only the entries of workspaces whose version changed and "
        "purges the TTLCache's expired entries (none here: it walks only those)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="case 6's child process")
    parser.add_argument("--child", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(child(args.child))))


if __name__ == "__main__":
    main()
