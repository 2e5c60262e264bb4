"""Rate limits at the gateway: window arithmetic on an injected clock, several windows,
per-action limits, the draft-11 fields, 429 and Retry-After, WebSockets, limits changed at
run time, rotation, and processes splitting a limit; real Redis, the real middleware."""

from __future__ import annotations

from typing import Any

import http_sf
import pytest
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from policies import PolicyStore
from policies.limits.rate_limits import Limits
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import Answer, call, http_scope, websocket, websocket_scope
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def auth(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


async def get(
    gate: KeyGateMiddleware, key: str, path: str = "/billing", method: str = "GET"
) -> Answer:
    return await call(gate, http_scope(path, method, auth(key)))


def fields(answer: Answer) -> tuple[list[Any], list[Any]]:
    """Both fields, parsed as Structured Field Lists (a syntax error fails here)."""
    policy = http_sf.parse(answer.headers[b"ratelimit-policy"], tltype="list")
    limit = http_sf.parse(answer.headers[b"ratelimit"], tltype="list")
    return policy, limit


def limited(answer: Answer, name: str) -> dict[str, Any]:
    assert answer.status == 429, answer.body
    assert answer.headers[b"content-type"] == b"application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["code"] == "rate_limited" and body["type"] == "urn:keystile:problem:rate_limited"
    assert body["limit"] == name
    assert int(answer.headers[b"retry-after"]) >= 1
    return body


async def settled(gate: KeyGateMiddleware, store: PolicyStore, ws: str) -> None:
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version, 10)


async def test_window_arithmetic_fields_and_retry_after(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    clock: ManualClock,
    registry: CollectorRegistry,
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    clock.now = 1_800_000_000.0  # a minute's start (divisible by 60)
    store.limits.replace(ws, "pk", ["3/min"], actor="test")
    await settled(gate, store, ws)
    for left in (2, 1, 0):
        answer = await get(gate, key)
        assert answer.status == 200
        assert answer.headers[b"ratelimit-policy"] == b'"key-60s";q=3;w=60'
        policy, limit = fields(answer)
        assert policy == [("key-60s", {"q": 3, "w": 60})]
        assert limit[0][0] == "key-60s" and limit[0][1]["r"] == left
    refused = await get(gate, key)
    body = limited(refused, "key-60s")
    assert body["quota"] == 3 and body["window"] == 60 and "3 requests per 60 s" in body["detail"]
    # The weighted previous window: 3 in the last minute; 80 s on, its weight is 2/3 (2
    # requests), so one more fits, and that is exactly what Retry-After says.
    assert refused.headers[b"retry-after"] == b"80"
    assert fields(refused)[1] == [("key-60s", {"r": 0, "t": 80})]
    clock.advance(79)
    assert (await get(gate, key)).status == 429
    clock.advance(1)
    assert (await get(gate, key)).status == 200
    assert (await get(gate, key)).status == 429
    clock.advance(120)  # two windows on: nothing counts any more
    assert [(await get(gate, key)).status for _ in range(4)] == [200, 200, 200, 429]
    refusals = registry.get_sample_value(
        "keystile_gateway_decisions_total", {"outcome": "rate_limited", "kind": "publishable"}
    )
    assert refusals == 4


async def test_every_window_binds(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws, key = workspace.workspace_id, workspace.sdk_key
    clock.now = 1_800_000_000.0
    store.limits.replace(ws, "sk", ["2/s", "3/min"], actor="test")
    await settled(gate, store, ws)
    first = await get(gate, key)
    assert first.headers[b"ratelimit-policy"] == b'"key-1s";q=2;w=1, "key-60s";q=3;w=60'
    assert fields(first)[1] == [("key-1s", {"r": 1, "t": 1}), ("key-60s", {"r": 2, "t": 60})]
    assert (await get(gate, key)).status == 200
    limited(await get(gate, key), "key-1s")
    clock.advance(2)  # the 1 s window is clear again; the minute has one left
    assert (await get(gate, key)).status == 200
    limited(await get(gate, key), "key-60s")


async def test_per_action_limits_leave_other_actions_alone(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["1/min"], scope="projects.create", actor="test")
    await settled(gate, store, ws)
    for _ in range(3):
        other = await get(gate, key, "/projects")
        assert other.status == 200
        assert b"ratelimit" not in other.headers  # no limit applies to projects.list
    created = await get(gate, key, "/projects", "POST")
    assert created.status == 200
    assert created.headers[b"ratelimit-policy"] == b'"projects.create-60s";q=1;w=60'
    body = limited(await get(gate, key, "/projects", "POST"), "projects.create-60s")
    assert "projects.create" in body["detail"]
    assert (await get(gate, key, "/projects")).status == 200
    # Limits of the key and of the action both apply, the key's first.
    store.limits.replace(ws, "pk", ["100/min"], actor="test")
    await settled(gate, store, ws)
    answer = await get(gate, key, "/projects", "POST")
    assert [name for name, _ in fields(answer)[0]] == ["key-60s", "projects.create-60s"]


async def test_tokens_have_their_own_limits(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    slow = store.create_token(ws, "slow", actor="test", limits=Limits.of({"*": ["1/min"]}))
    free = store.create_token(ws, "free", actor="test")
    assert (await get(gate, slow.token)).status == 200
    limited(await get(gate, slow.token), "key-60s")
    answers = [await get(gate, free.token) for _ in range(5)]
    assert {a.status for a in answers} == {200} and b"ratelimit" not in answers[0].headers
    assert (await get(gate, workspace.publishable_key)).status == 200  # pk: no limits


async def test_websocket_refused_before_accept_and_accept_carries_fields(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["1/min"], actor="test")
    await settled(gate, store, ws)
    sent = await websocket(gate, websocket_scope("/events", auth(key)))
    assert sent[0]["type"] == "websocket.accept"
    assert dict(sent[0]["headers"])[b"ratelimit-policy"] == b'"key-60s";q=1;w=60'
    refused = await websocket(gate, websocket_scope("/events", auth(key)))
    assert [m["type"] for m in refused] == ["websocket.close"]
    assert refused[0]["code"] == 4029 and refused[0]["reason"] == "rate_limited"


async def test_limits_changed_at_run_time_apply_within_the_invalidation_bound(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["1/min"], actor="test")
    await settled(gate, store, ws)
    assert (await get(gate, key)).status == 200
    assert (await get(gate, key)).status == 429
    store.limits.replace(ws, "pk", ["3/min"], actor="test")
    await settled(gate, store, ws)
    # The counts so far stay: one used, two more fit under the new limit.
    assert [(await get(gate, key)).status for _ in range(3)] == [200, 200, 429]
    store.limits.remove(ws, "pk", actor="test")
    await settled(gate, store, ws)
    answer = await get(gate, key)
    assert answer.status == 200 and b"ratelimit" not in answer.headers


async def test_rotation_keeps_the_limits_and_the_counts(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    store.limits.replace(ws, "pk", ["2/min"], actor="test")
    await settled(gate, store, ws)
    assert (await get(gate, workspace.publishable_key)).status == 200
    assert (await get(gate, workspace.publishable_key)).status == 200
    new_key = store.rotate_publishable_key(ws, actor="test")
    await settled(gate, store, ws)
    assert (await get(gate, workspace.publishable_key)).status == 401  # the old key is dead
    limited(await get(gate, new_key), "key-60s")  # the role's limit, the role's counts


async def sync(gate: KeyGateMiddleware) -> int:
    reader = gate.runtime.reader
    assert reader is not None
    return await gate.runtime.limit_sync.sync(reader)


async def test_processes_split_what_is_left(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """Two gateways, one limit: neither admits past its lease between syncs (the first
    lookups' leases included), and together they admit exactly the limit."""
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    # Background syncs slow enough (a quarter interval apart) that only ours count here.
    gates = [make_gate(limit_sync_interval=60.0) for _ in range(2)]
    for gate in gates:
        await gate.start()
    try:
        statuses: list[list[int]] = [[], []]
        for i, gate in enumerate(gates):
            statuses[i].append((await get(gate, key)).status)  # creates the counters
        for gate in gates:
            assert await sync(gate) == 1
        for gate in gates:  # a second round: both now count each other
            await sync(gate)
        counters = [next(iter(g.runtime.limiter.counters.values())) for g in gates]
        assert [c.processes for c in counters] == [2, 2]
        assert sorted(c.rank for c in counters) == [0, 1]
        for _ in range(10):
            for i, gate in enumerate(gates):
                statuses[i].append((await get(gate, key)).status)
        # The first gateway's lookup leased it the whole limit, so the second's first request
        # was refused; 9 were left after the syncs: split 5 and 4, whatever the arrival order.
        assert [s[0] for s in statuses] == [200, 429]
        assert sorted(s[1:].count(200) for s in statuses) == [4, 5]
        for gate in gates:
            await sync(gate)
        assert [(await get(g, key)).status for g in gates] == [429, 429]
    finally:
        for gate in gates:
            await gate.stop()


async def test_a_process_back_from_idle_waits_for_one_sync(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    """A process that no longer uses a key gives its lease back (its next sync), so others
    can use it; its next request waits for one sync (a lease from what they left) rather
    than deciding on its own view (which would admit 6 more here: 16 of 10)."""
    ws, key = workspace.workspace_id, workspace.publishable_key
    clock.now = 1_800_000_000.0  # a minute's start: the test stays in one window
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    first, second = make_gate(), make_gate()  # real sync loops (every 0.2 s)
    for gate in (first, second):
        await gate.start()
    try:
        assert [(await get(first, key)).status for _ in range(4)] == [200] * 4  # of a lease of 10
        await sync(first)  # its 4 reach Redis
        clock.advance(5)  # idle: its lease is stale; to the others it is gone
        assert await sync(first) == 1  # its next sync gives the idle counter's lease back
        assert [(await get(second, key)).status for _ in range(7)] == [200] * 6 + [429]
        # Held for a sync, whose lease is what the second left: nothing.
        assert (await get(first, key)).status == 429
        assert first.runtime.limiter.counters  # and it did sync meanwhile:
        counter = next(iter(first.runtime.limiter.counters.values()))
        assert counter.synced == clock.now and counter.processes == 2
    finally:
        for gate in (first, second):
            await gate.stop()


async def test_a_stopped_process_gives_its_lease_back_at_once(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """A restart: the process that stops syncs its last counts and gives its lease back, so
    the one started next leases what is left at once."""
    ws, key = workspace.workspace_id, workspace.publishable_key
    store.limits.replace(ws, "pk", ["10/min"], actor="test")
    old = make_gate()
    await old.start()
    assert [(await get(old, key)).status for _ in range(3)] == [200] * 3  # of a lease of 10
    await old.stop()
    new = make_gate()
    await new.start()
    try:
        assert [(await get(new, key)).status for _ in range(8)] == [200] * 7 + [429]
    finally:
        await new.stop()
