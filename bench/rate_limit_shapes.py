"""Case 10 (a)-(e): rate limits where the user stands, not only at steady state (issue 24).

A publishable key limited to 100 per 60 s, uvicorn gateway processes, the client's 200s
counted (each run a new workspace, so every process meets the key for the first time):

(a) 4 fresh processes, 600 concurrent requests (150 to each);
(b) one process spends the limit (a burst of 150), then a process started afterwards gets
    a burst of 150;
(c) 2 processes under load (5 requests a second each), 2 more started mid-window, then a
    burst of 150 on each of the 4;
(d) 2 processes; 25 requests to each, one restarted (SIGTERM, then a new one) while the
    other stays under load, a second of load on both, then a burst of 150 on both;
(e) Redis down, fresh processes: 4 processes started, each looks the key (100 per 10 s)
    up once, and Redis stops at once (before they sync again); then a burst of 150 on each
    in that window and again in the next one; the admitted count of each window.

Each ratio is admitted / what the sliding window allowed (the limit, plus what it freed if
a fixed window ended during the run).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from bench import apps
from bench.httpclient import Connection, bearer, request_bytes
from bench.servers import Server, uvicorn_servers
from bench.setup import ACTOR, BenchEnv
from keystile.redis_server import RedisServer
from policies import PolicyStore
from policies.storage.connections import sync_client

LIMIT, WINDOW = 100, 60
BURST = 150
STEADY = 5  # requests a second per process under load
DOWN_WINDOW = 10  # (e): short, so the next window comes within the stale bound

Shape = tuple[int, int, str]  # admitted, allowed, what happened


async def _status(port: int, request: bytes) -> int:
    conn = await Connection.open(port, timeout=30)
    try:
        return await conn.status(request, timeout=30)
    finally:
        await conn.close()


async def burst(servers: list[Server], key: str, each: int = BURST) -> int:
    """``each`` concurrent requests to every server, one connection each: how many 200s."""
    request = request_bytes(apps.PATH, bearer(key))
    found = await asyncio.gather(*(_status(s.port, request) for s in servers for _ in range(each)))
    return found.count(200)


@contextlib.asynccontextmanager
async def steady(servers: list[Server], key: str) -> AsyncIterator[list[int]]:
    """``STEADY`` requests a second to each server meanwhile; how many 200s."""
    admitted = [0]
    stop = asyncio.Event()
    request = request_bytes(apps.PATH, bearer(key))

    async def lane(port: int) -> None:
        while not stop.is_set():
            admitted[0] += await _status(port, request) == 200
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / STEADY)

    lanes = [asyncio.create_task(lane(s.port)) for s in servers]
    try:
        yield admitted
    finally:
        stop.set()
        await asyncio.gather(*lanes)


def allowed(first: float, last: float, spent: int, limit: int = LIMIT, window: int = WINDOW) -> int:
    """The limit, plus what the sliding window freed by ``last`` of counts from ``first``
    on if a fixed window ended meanwhile (the previous window's weight decays)."""
    turn = last // window * window
    return limit if first >= turn else limit + math.ceil(spent * (last - turn) / window)


def _key(env: BenchEnv, name: str, limit: str = f"{LIMIT}/{WINDOW}s") -> str:
    created = env.store.create_workspace(name, actor=ACTOR)
    env.store.limits.replace(created.workspace_id, "pk", [limit], actor=ACTOR)
    return created.publishable_key


async def fresh(env: BenchEnv) -> Shape:
    key = _key(env, "(a) fresh")
    async with uvicorn_servers(env, "gateway", 4) as servers:
        first = time.time()
        admitted = await burst(servers, key)
    return admitted, allowed(first, time.time(), admitted), f"{admitted} of 600"


async def joined_after_spent(env: BenchEnv) -> Shape:
    key = _key(env, "(b) joined")
    async with uvicorn_servers(env, "gateway") as running:
        first = time.time()
        spent = await burst(running, key)
        async with uvicorn_servers(env, "gateway") as joined:
            late = await burst(joined, key)
    total = spent + late
    return total, allowed(first, time.time(), total), f"{spent} + {late} by the new process"


async def scale_out(env: BenchEnv) -> Shape:
    key = _key(env, "(c) scale-out")
    async with uvicorn_servers(env, "gateway", 2) as old:
        first = time.time()
        async with steady(old, key) as during, uvicorn_servers(env, "gateway", 2) as new:
            joined = during[0]
            admitted = await burst(old + new, key)
    total = admitted + during[0]
    note = f"{joined} under load before the new 2 served, {total} in all"
    return total, allowed(first, time.time(), total), note


async def restart(env: BenchEnv) -> Shape:
    key = _key(env, "(d) restart")
    async with uvicorn_servers(env, "gateway", 2) as pair:
        first = time.time()
        async with steady(pair[:1], key) as during:
            before = await burst(pair, key, LIMIT // 4)
            await asyncio.to_thread(pair[1].stop)
            async with uvicorn_servers(env, "gateway") as replacement:
                both = pair[:1] + replacement
                async with steady(both, key) as settling:  # a second of load on both first
                    await asyncio.sleep(1.0)
                after = await burst(both, key)
    steadily = during[0] + settling[0]
    total = before + after + steadily
    note = f"{before} before the restart, {after} in the burst after, {steadily} of the load"
    return total, allowed(first, time.time(), total), note


async def redis_down(env: BenchEnv) -> tuple[list[int], str]:
    """(e): the admitted count of the window Redis stopped in, and of the next."""
    server = RedisServer(env.tmp / "redis-down", persistent=False)
    url = server.start()
    client = sync_client(url)
    try:
        store = PolicyStore(client, env.settings.keyring())
        store.save_catalog(env.catalog)
        created = store.create_workspace("(e) Redis down", actor=ACTOR)
        limit = f"{LIMIT}/{DOWN_WINDOW}s"
        store.limits.replace(created.workspace_id, "pk", [limit], actor=ACTOR)
        key = created.publishable_key
        async with uvicorn_servers(env, "gateway", 4, redis_url=url) as servers:
            await _next_window(DOWN_WINDOW)
            counts = [await burst(servers, key, 1)]
            server.stop()
            counts[0] += await burst(servers, key)
            await _next_window(DOWN_WINDOW)
            counts.append(await burst(servers, key))
    finally:
        client.close()
        server.stop()
    return counts, f"{limit}; admitted in the window Redis stopped in, then in the next: {counts}"


async def _next_window(seconds: int) -> None:
    """Wait for the next fixed window to start (a bench may wait on the clock)."""
    now = time.time()
    await asyncio.sleep((now // seconds + 1) * seconds - now + 0.05)
