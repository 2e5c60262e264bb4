"""Rate limits while Redis is away: the processes go on limiting from their own counts and
their last known split, and hand their counts over when Redis returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile.redis_server import RedisServer
from policies import Catalog, PolicyStore, Settings
from policies.errors import StoreUnavailable
from policies.limits.counters import counter
from policies.storage.connections import sync_client
from policies.storage.values import CreatedWorkspace
from tests.support.apps import starlette_app
from tests.support.asgi import call, http_scope
from tests.support.clock import ManualClock

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.single_redis]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


async def admitted(gate: KeyGateMiddleware, key: str, count: int) -> int:
    statuses = []
    for _ in range(count):
        answer = await call(gate, http_scope("/billing", "GET", [(b"x-api-key", key.encode())]))
        statuses.append(answer.status)
    assert set(statuses) <= {200, 429}, statuses  # limited, never a 503 for a cached key
    return statuses.count(200)


async def sync(gate: KeyGateMiddleware) -> int:
    reader = gate.runtime.reader
    assert reader is not None
    return await gate.runtime.limit_sync.sync(reader)


async def sync_fails(gates: list[KeyGateMiddleware]) -> None:
    """Each process's next sync fails: from now on its counters know Redis is away (until
    then a stale lease waits for a sync, which the loop would try a quarter interval on)."""
    for gate in gates:
        with pytest.raises(StoreUnavailable):
            await sync(gate)


def two_limited_gates(
    server: RedisServer, master_key: str, digest_secret: str, catalog: Catalog, quota: str
) -> tuple[redis.Redis, CreatedWorkspace, ManualClock, list[KeyGateMiddleware]]:
    """Two gateway processes on one clock (at a minute's and an hour's start) that sync only
    when the test says (leases live 180 s of it), and a workspace whose publishable key is
    limited to ``quota``."""
    settings = Settings(server.url, (master_key,), digest_secret)
    client = sync_client(server.url)
    store = PolicyStore(client, settings.keyring())
    store.save_catalog(catalog)
    created = store.create_workspace("Acme", actor="test")
    store.limits.replace(created.workspace_id, "pk", [quota], actor="test")
    clock = ManualClock(1_800_000_000.0)
    gates = [
        KeyGateMiddleware(
            starlette_app(),
            settings=settings,
            registry=CollectorRegistry(),
            clock=clock,
            limit_sync_interval=60.0,
            store_timeout=0.5,
        )
        for _ in range(2)
    ]
    return client, created, clock, gates


async def test_redis_down_keeps_limiting_and_counts_come_back(
    server: RedisServer, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    client, created, clock, gates = two_limited_gates(
        server, master_key, digest_secret, app_catalog, "10/min"
    )
    ws, key = created.workspace_id, created.publishable_key
    for gate in gates:
        await gate.start()
    try:
        # The first lookup leased the first process the whole limit: the second gets none yet.
        assert [await admitted(gate, key, 1) for gate in gates] == [1, 0]
        for _ in range(2):
            for gate in gates:
                await sync(gate)
        server.stop()
        for gate in gates:
            assert await gate.invalidation.wait_until(lambda: not gate.invalidation.subscribed, 10)  # noqa: B023

        # Each process keeps to its lease: 9 were left, 5 and 4.
        assert sorted([await admitted(gate, key, 10) for gate in gates]) == [4, 5]
        await sync_fails(gates)
        # Past the leases' life (3 sync intervals) and into a later window: each process
        # admits at most its last known share of the quota (1/2), so together the limit
        # (in each fixed window; see the README for the bound over any sliding one).
        clock.advance(200)  # a third into the window that starts 180 s on
        per_window = [0, 0]
        for _ in range(4):
            for i, gate in enumerate(gates):
                per_window[i] += await admitted(gate, key, 10)
            clock.advance(9.9)
        assert per_window == [5, 5]

        server.start()
        for gate in gates:
            assert await gate.invalidation.wait_subscribed(10)
            # The counts made while Redis was away reach it (a pooled connection from
            # before the restart may fail once; redis-py drops it, and the next sync, as
            # the loop's next tick would, goes through).
            for attempt in range(3):
                try:
                    await sync(gate)
                    break
                except StoreUnavailable:
                    assert attempt < 2

        bucket = int(clock.now // 60)
        assert int(client.get(counter(ws, "pk", "*", 60, bucket)) or 0) == 10
    finally:
        for gate in gates:
            await gate.stop()
        client.close()


async def test_fresh_processes_losing_redis_keep_to_their_first_leases(
    server: RedisServer, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    """Two processes look up a key (each lookup leases from what is left) and lose Redis at
    once, before they learn of each other: past their leases' life, in the same window, they
    admit no more than those leases (the split by what each last knew would give 10 + 5)."""
    client, created, clock, gates = two_limited_gates(
        server, master_key, digest_secret, app_catalog, "10/h"
    )
    for gate in gates:
        await gate.start()
    try:
        key = created.publishable_key
        assert [await admitted(gate, key, 1) for gate in gates] == [1, 0]
        server.stop()
        for gate in gates:
            assert await gate.invalidation.wait_until(lambda: not gate.invalidation.subscribed, 10)  # noqa: B023
        await sync_fails(gates)
        clock.advance(200)  # the leases are stale; the hour has not turned
        assert [await admitted(gate, key, 20) for gate in gates] == [9, 0]
    finally:
        for gate in gates:
            await gate.stop()
        client.close()
