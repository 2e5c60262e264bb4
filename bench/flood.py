"""Case 7: a flood of 10,000 random keys that look right, against one uvicorn gateway.

Two floods of distinct keys, each sent over 8 connections while a probe connection sends
good requests (a cached key) one after another and times them:

* *forged*: random workspace ids and secrets with a correct checksum (CRC32 is public):
  each passes the format check, so each costs a lookup; repeats would hit the negative
  cache;
* *bad checksum*: the same shape with a wrong checksum: refused before Redis.

For comparison the probe also runs alone (idle) and beside the same 8 connections sending
a valid cached key (*good load*): the difference between *good load* and *forged* is what
garbage costs good traffic beyond the load itself. Redis commands are counted with
``INFO commandstats`` around each flood.
"""

from __future__ import annotations

import asyncio
import random
import time

from bench.apps import PATH
from bench.httpclient import Connection, bearer, request_bytes
from bench.loadgen import percentile
from bench.redisstats import Commands, Window
from bench.report import CaseResult
from bench.servers import uvicorn_servers
from bench.setup import BenchEnv, cpu_plan, pinned
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind

NAME = "7 garbage flood"
FLOOD_CONNECTIONS = 8
_KINDS = list(KeyKind)


def forged_keys(count: int) -> list[str]:
    return [
        keyformat.generate(random.choice(_KINDS), keyformat.new_workspace_id())
        for _ in range(count)
    ]


def bad_checksum(key: str) -> str:
    last = key[-1]
    return key[:-1] + ("0" if last != "0" else "1")


async def _flood(port: int, requests: list[bytes], limit: float) -> int:
    """Send every request over FLOOD_CONNECTIONS connections; how many were not 401/200."""
    queue = iter(requests)
    odd = [0]
    deadline = time.perf_counter() + limit

    async def sender() -> None:
        conn = await Connection.open(port)
        try:
            for request in queue:
                if time.perf_counter() > deadline:
                    return
                if await conn.status(request) not in (200, 401):
                    odd[0] += 1
        finally:
            await conn.close()

    await asyncio.gather(*(sender() for _ in range(FLOOD_CONNECTIONS)))
    return odd[0]


async def _probe(
    port: int, good: bytes, until: asyncio.Task[int] | None, count: int
) -> list[float]:
    """Good requests one at a time (until ``until`` finishes, or ``count`` of them): ms."""
    conn = await Connection.open(port)
    latencies: list[float] = []
    try:
        while (until is not None and not until.done()) or (
            until is None and len(latencies) < count
        ):
            started = time.perf_counter()
            status = await conn.status(good)
            latencies.append((time.perf_counter() - started) * 1e3)
            if status != 200:
                raise RuntimeError(f"a good request was answered {status}")
    finally:
        await conn.close()
    return latencies


async def _phase(
    port: int, good: bytes, flood: list[bytes], limit: float
) -> tuple[list[float], int]:
    task = asyncio.create_task(_flood(port, flood, limit))
    latencies = await _probe(port, good, task, 0)
    return latencies, await task


async def run(env: BenchEnv, *, keys: int, seconds: float) -> CaseResult:
    result = CaseResult(NAME)
    server_cpus, client_cpus = cpu_plan()
    good = request_bytes(PATH, bearer(env.publishable_key()))
    forged = forged_keys(keys)
    floods = {
        "good load": [good] * keys,
        "forged": [request_bytes(PATH, bearer(k)) for k in forged],
        "bad checksum": [request_bytes(PATH, bearer(bad_checksum(k))) for k in forged],
    }
    latencies: dict[str, list[float]] = {}
    commands: dict[str, Commands] = {}
    odd = 0
    async with uvicorn_servers(env, "gateway", cpus=server_cpus) as servers:
        port = servers[0].port
        with pinned(client_cpus):
            await _probe(port, good, None, 200)  # warm: the key is cached, connections open
            latencies["idle"] = await _probe(port, good, None, min(keys, 2000))
            for name, requests in floods.items():
                with Window(env.client) as window:
                    latencies[name], bad = await _phase(port, good, requests, seconds)
                commands[name] = window.commands
                odd += bad
    idle99 = percentile(latencies["idle"], 99)
    for name in ("forged", "bad checksum"):
        lookups = commands[name].lookups
        target, met = ("<= 1 per key", lookups <= keys) if name == "forged" else ("0", lookups == 0)
        result.row(
            f"{name} keys: Redis lookups",
            f"{lookups:,} for {keys:,} keys ({commands[name].describe()})",
            target,
            met,
        )
    result.row(
        "good requests p99 ms: idle / good load / forged / bad checksum",
        " / ".join(
            f"{percentile(latencies[n], 99):.2f}"
            for n in ("idle", "good load", "forged", "bad checksum")
        ),
    )
    for name in ("idle", "good load", "forged", "bad checksum"):
        values = latencies[name]
        result.details.append(
            f"probe {name}: {len(values)} good requests, p50 {percentile(values, 50):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms (x{percentile(values, 99) / idle99:.1f} idle)"
        )
    result.details.append(
        f"floods: {keys:,} distinct keys over {FLOOD_CONNECTIONS} connections, each flood "
        f"bounded to {seconds:g} s; answers other than 200/401: {odd}; gateway on cores "
        f"{sorted(server_cpus or [])}, clients and Redis on {sorted(client_cpus or [])}"
    )
    return result
