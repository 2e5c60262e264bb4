"""Usage counts: counted in process where each decision is made, flushed in one pipeline."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway import KeyGateMiddleware
from gateway.keys.cached_key import CachedKey
from gateway.usage.request_counts import UsageCounter
from keystile.redis_server import RedisServer
from policies import PolicyStore, Settings
from policies.catalog.rules import Rule
from policies.errors import StoreUnavailable
from policies.keys.crypto import Keyring
from policies.keys.keyformat import KeyKind
from policies.storage import schema
from policies.storage.async_store import AsyncPolicyStore
from policies.storage.connections import async_client, sync_client
from policies.storage.values import CreatedWorkspace, KeyPolicy
from policies.usage.request_counts import (
    BUCKET_ORIGINS,
    DAY,
    GRAINS,
    HOUR,
    MAX_ORIGINS,
    MINUTE,
    NO_ORIGIN,
    OTHER_ORIGIN,
    summarize,
)
from tests.support.asgi import call, http_scope
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def request(
    key: str, path: str = "/projects", method: str = "GET", origin: str = ""
) -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {key}".encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    return http_scope(path, method, headers)


async def test_counts_per_key_outcome_action_and_origin_equal_the_requests(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test", rules=[Rule("billing", "read")])
    store.add_rule(ws, Rule("members", "invite"), actor="test")
    pk = workspace.publishable_key
    for _ in range(7):
        assert (await call(gate, request(pk, origin="https://shop.example"))).status == 200
    for _ in range(3):
        assert (await call(gate, request(pk, "/projects", "POST"))).status == 200  # no origin
    for _ in range(4):
        assert (await call(gate, request(pk, "/members", "POST"))).status == 403
    for _ in range(5):
        assert (await call(gate, request(token.token, "/billing"))).status == 403
        assert (await call(gate, request(token.token, "/projects"))).status == 200
    assert (await call(gate, request(workspace.sdk_key, "/uncatalogued"))).status == 200
    assert (await call(gate, request("pk_" + "x" * 40))).status == 401  # counted nowhere
    await gate.flush_usage()

    report = store.usage(ws, since=3600, subject="publishable")
    assert report.totals() == {"allowed": 10, "action_blocked": 4}
    assert report.actions == {
        "projects.list": {"allowed": 7},
        "projects.create": {"allowed": 3},
        "members.invite": {"action_blocked": 4},
    }
    assert report.origins == {"https://shop.example": 7, NO_ORIGIN: 3}
    assert report.top_refused() == {"members.invite": 4}
    tokens = store.usage(ws, since=3600, subject=token.info.key_id)
    assert tokens.totals() == {"action_blocked": 5, "allowed": 5}
    assert tokens.top_actions() == {"billing.read": 5, "projects.list": 5}
    assert store.usage(ws, since=3600, subject="sdk").actions == {"-": {"allowed": 1}}
    assert store.usage(ws, since=3600).total == 25
    # The three buckets of the flush's minute, hour and day, each with its retention.
    for grain in GRAINS:
        start = grain.start(clock.now)
        key = schema.usage(ws, grain.code, start)
        # TTL, not EXPIRETIME (Redis 7): the Redis of the suite may be 6.
        assert abs(redis_client.ttl(key) - (grain.expires(start) - time.time())) <= 5
    # Each flush adds what came since the previous one, nothing twice.
    assert (await call(gate, request(pk, origin="https://shop.example"))).status == 200
    await gate.flush_usage()
    assert store.usage(ws, since=3600, subject="publishable").totals()["allowed"] == 11
    impact = store.rule_impact(ws, Rule("projects", "*"), span=86400)
    assert (impact.requests, impact.origins) == (11, {"https://shop.example": 8, NO_ORIGIN: 3})


async def test_evicted_entries_hand_their_counts_over(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(cache_size=1)
    await gate.start()
    try:
        ws = workspace.workspace_id
        for key in (workspace.publishable_key, workspace.sdk_key) * 3:  # evict each other
            assert (await call(gate, request(key))).status == 200
        await gate.flush_usage()
    finally:
        await gate.stop()
    assert store.usage(ws, since=600).totals() == {"allowed": 6}


async def test_counting_off_counts_nothing(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    gate = make_gate(usage_counts=False)
    await gate.start()
    try:
        assert (await call(gate, request(workspace.publishable_key))).status == 200
        assert (await call(gate, request(workspace.publishable_key, "/members", "POST"))).status
        await gate.flush_usage()
    finally:
        await gate.stop()
    assert store.usage(workspace.workspace_id, since=600).total == 0
    assert redis_client.keys("*usage*") == []


async def test_stop_flushes_what_it_has(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(touch_interval=3600)  # no periodic flush during the test
    await gate.start()
    for _ in range(3):
        assert (await call(gate, request(workspace.sdk_key))).status == 200
    await gate.stop()
    assert store.usage(workspace.workspace_id, since=600, subject="sdk").total == 3


@pytest.mark.single_redis
async def test_redis_down_during_a_flush_loses_that_interval_and_blocks_no_request(
    tmp_path: Path,
    master_key: str,
    digest_secret: str,
    clock: ManualClock,
    make_gate: Factory,
    store: PolicyStore,
) -> None:
    with RedisServer(tmp_path / "redis", persistent=True) as server:
        client = sync_client(server.url)
        own = PolicyStore(client, Keyring([master_key], digest_secret, clock=clock), clock=clock)
        own.save_catalog(store.load_catalog())  # type: ignore[arg-type]
        workspace = own.create_workspace("Acme", actor="test")
        key = workspace.sdk_key
        gate = make_gate(settings=Settings(server.url, (master_key,), digest_secret))
        await gate.start()
        try:
            for _ in range(3):
                assert (await call(gate, request(key))).status == 200
            await gate.flush_usage()
            server.stop()
            for _ in range(4):  # cached: served while Redis is away
                assert (await call(gate, request(key))).status == 200
            with pytest.raises(StoreUnavailable):
                await gate.flush_usage()
            assert gate.runtime.counter.lost == 4
            server.start()
            for _ in range(2):
                assert (await call(gate, request(key))).status == 200
            await gate.flush_usage()
        finally:
            await gate.stop()
        report = own.usage(workspace.workspace_id, since=600, subject="sdk", grain=HOUR)
        assert report.total == 5  # 3 + 2: the 4 of the failed flush are the loss
        client.close()


async def test_the_ticker_flushes_counts_on_its_own(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(check_interval=0.1, touch_interval=0.2, stale_bound=1.0)
    await gate.start()
    try:
        for _ in range(3):
            assert (await call(gate, request(workspace.sdk_key))).status == 200
        ws = workspace.workspace_id
        # The ticker re-tests this after each of its checks, flushes included.
        assert await gate.invalidation.wait_until(
            lambda: store.usage(ws, since=600, subject="sdk").total == 3, 10
        )
    finally:
        await gate.stop()


async def test_origins_are_bounded_per_minute_and_escaped(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    pk = workspace.publishable_key
    sent = {"https://busy.example": 3, "https://A|b%7C.example": 2}  # the busiest: named
    sent |= {f"https://o{n}.example": 1 for n in range(MAX_ORIGINS + 5)}
    for origin, count in sent.items():
        for _ in range(count):
            assert (await call(gate, request(pk, origin=origin))).status == 200
    await gate.flush_usage()
    origins = store.usage(workspace.workspace_id, since=600, subject="publishable").origins
    assert len(origins) == MAX_ORIGINS + 1  # N names and "other"
    assert origins["https://busy.example"] == 3
    assert origins["https://a|b%7c.example"] == 2  # normalised, and its "|" kept apart
    assert origins[OTHER_ORIGIN] == len(sent) - MAX_ORIGINS
    assert sum(origins.values()) == sum(sent.values())
    # A second flush in the same minute names no new origin either.
    assert (await call(gate, request(pk, origin="https://late.example"))).status == 200
    await gate.flush_usage()
    later = store.usage(workspace.workspace_id, since=600, subject="publishable").origins
    assert "https://late.example" not in later and later[OTHER_ORIGIN] == origins[OTHER_ORIGIN] + 1


async def test_four_processes_of_hostile_origins_leave_a_bounded_bucket(
    workspace: CreatedWorkspace, redis_url: str, settings: Settings, redis_client: redis.Redis
) -> None:
    """The bound holds in Redis across processes: 4 counters (each naming its own 20
    origins a minute) flush concurrently for an hour; every bucket keeps at most
    BUCKET_ORIGINS origin fields of the key, the rest in the reserved overflow row, and no
    request is lost."""
    ws = workspace.workspace_id
    clock = ManualClock(HOUR.start(time.time()) + 1.0)
    stores = [
        AsyncPolicyStore(async_client(redis_url), settings.keyring(), clock=clock) for _ in range(4)
    ]
    counters = [UsageCounter(clock) for _ in range(4)]
    entries = [
        CachedKey(bytes([p]), KeyPolicy(ws, KeyKind.PUBLISHABLE, "pk", version=1), 0.0)
        for p in range(4)
    ]
    sent = 0
    try:
        for minute in range(10):
            clock.now = HOUR.start(clock.now) + minute * 60 + 1.0
            for p, entry in enumerate(entries):
                for n in range(30):
                    entry.tally[("projects.list", f"https://m{minute}p{p}n{n}.x".encode())] += 1
                    sent += 1
                # Caller-sent, the busiest (named), kept apart from the overflow row.
                entry.tally[("projects.list", b"other")] += 2
                sent += 2
            await asyncio.gather(
                *(
                    s.record({}, c.collect([e]))
                    for s, c, e in zip(stores, counters, entries, strict=True)
                )
            )
    finally:
        for s in stores:
            await s.client.aclose()
    for grain in (MINUTE, HOUR, DAY):
        fields = redis_client.hkeys(schema.usage(ws, grain.code, grain.start(clock.now)))
        origins = [f for f in fields if f.startswith("g|publishable|")]
        assert len(origins) <= BUCKET_ORIGINS + 1
    hour = HOUR.start(clock.now)
    raw = redis_client.hgetall(schema.usage(ws, HOUR.code, hour))
    report = summarize(HOUR, {hour: {k: int(v) for k, v in raw.items()}}, "publishable")
    assert len(report.origins) == BUCKET_ORIGINS + 1
    assert report.origins["other"] == 10 * 4 * 2
    assert report.origins[OTHER_ORIGIN] == sent - sum(
        n for o, n in report.origins.items() if o != OTHER_ORIGIN
    )
    assert sum(report.origins.values()) == sent == report.total
