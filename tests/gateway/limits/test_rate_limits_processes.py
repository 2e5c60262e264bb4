"""Two uvicorn gateway processes, one rate limit, uneven load: what they admit together stays
within the limit in every window (the README's bound), and close to it.

The windows are counted twice: by the client (every 200 it got) and by the gateways' shared
counters in Redis (per fixed window); the two totals must agree before the per-window
counts are believed.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis

from policies import PolicyStore
from policies.limits.counters import counter
from policies.storage.values import CreatedWorkspace
from tests.support.uvicorn_gateways import run_gateways

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.single_redis]

QUOTA, WINDOW = 40, 2  # 20 requests a second, offered about three times as many
RUN_SECONDS = 7.0
# A counter no process has synced yet is decided on local counts alone for one round trip
# (README, "Rate limits"): a few requests at the very start, never later.
START_SLACK = 4


async def hammer(base: str, key: str, workers: int, deadline: float) -> list[int]:
    statuses: list[int] = []
    headers = {"X-API-Key": key}

    async def worker(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            statuses.append((await http.get(f"{base}/billing", headers=headers)).status_code)
            await asyncio.sleep(0.1)  # about 10 requests a second per worker

    async with httpx.AsyncClient(timeout=15) as http:
        await asyncio.gather(*(worker(http) for _ in range(workers)))
    return statuses


async def test_two_processes_keep_one_limit(
    redis_url: str,
    master_key: str,
    digest_secret: str,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.set_limits(ws, "pk", [f"{QUOTA}/{WINDOW}s"], actor="test")
    with run_gateways(2, redis_url, master_key, digest_secret) as bases:
        started = time.time()
        deadline = time.monotonic() + RUN_SECONDS
        # Uneven: five workers on one process, one on the other.
        heavy, light = await asyncio.gather(
            hammer(bases[0], key, 5, deadline), hammer(bases[1], key, 1, deadline)
        )
        ended = time.time()
    # The processes have stopped: each synced its last counts on the way out.
    assert set(heavy) | set(light) <= {200, 429}
    admitted = heavy.count(200) + light.count(200)
    assert light.count(200) > 0 and heavy.count(429) > 0
    buckets = range(int(started // WINDOW), int(ended // WINDOW) + 1)
    per_window = [int(redis_client.get(counter(ws, "pk", "*", WINDOW, b)) or 0) for b in buckets]
    print("admitted per window:", per_window, "client total:", admitted)
    assert sum(per_window) == admitted, (per_window, admitted)
    assert max(per_window) <= QUOTA + START_SLACK, per_window
    assert all(n <= QUOTA for n in per_window[1:]), per_window
    # Whole windows under load get close to the limit (the first and last are partial).
    full = per_window[1:-1]
    assert full and min(full) >= 0.8 * QUOTA, per_window
