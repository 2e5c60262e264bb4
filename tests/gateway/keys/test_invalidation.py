"""Freshness: events evict at once; lost messages are caught by resubscription or the check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from gateway import KeyGateMiddleware
from gateway.keys.cache import DecisionCache
from gateway.keys.cached_key import CachedKey
from policies import Catalog, PolicyStore, Rule
from policies.keys.keyformat import KeyKind
from policies.storage import schema
from policies.storage.values import CreatedWorkspace, KeyPolicy
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory, kill_pubsub

pytestmark = pytest.mark.anyio


def request(key: str, path: str = "/projects", method: str = "GET") -> dict[str, object]:
    return http_scope(path, method, [(b"authorization", f"Bearer {key}".encode())])


async def status(gate: KeyGateMiddleware, key: str, path: str = "/projects") -> int:
    return (await call(gate, request(key, path))).status


@pytest.fixture
async def events_only(make_gate: Factory, store: PolicyStore) -> AsyncIterator[KeyGateMiddleware]:
    """A gateway whose version check is too slow to matter: only events can evict."""
    gate = make_gate(check_interval=60.0, stale_bound=60.0, cache_ttl=600.0)
    await gate.start()
    assert await gate.invalidation.wait_subscribed(10)
    yield gate
    await gate.stop()


async def test_revocation_event_evicts_at_once(
    events_only: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    assert await status(events_only, token.token) == 200
    assert await status(events_only, workspace.publishable_key) == 200
    store.revoke_token(ws, token.info.key_id, actor="test")
    assert await events_only.invalidation.wait_version(ws, store.workspace(ws).version, 10)
    assert await status(events_only, token.token) == 401
    assert await status(events_only, workspace.publishable_key) == 200  # re-looked up, fine


async def test_rotation_and_new_rule_events(
    events_only: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    old = workspace.publishable_key
    assert await status(events_only, old) == 200
    new = store.rotate_publishable_key(ws, actor="test")
    assert await events_only.invalidation.wait_version(ws, store.workspace(ws).version, 10)
    assert await status(events_only, old) == 401
    assert await status(events_only, new) == 200
    store.add_rule(ws, Rule("projects", "list"), actor="test")
    assert await events_only.invalidation.wait_version(ws, store.workspace(ws).version, 10)
    assert await status(events_only, new) == 403
    invalidations = events_only.metrics.invalidations.labels("event")._value.get()
    assert invalidations >= 2


async def test_lost_message_is_caught_by_the_version_check(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    gate = make_gate()  # the default check_interval: the documented bound is under 1 s
    await gate.start()
    ws = workspace.workspace_id
    assert await status(gate, workspace.publishable_key) == 200
    # The same change a rule write makes, minus its PUBLISH: a message lost in transit.
    redis_client.sadd(schema.rules(ws), "projects:list")
    redis_client.hincrby(schema.meta(ws), "version", 1)
    started = time.monotonic()
    assert await gate.invalidation.wait_check(10)
    assert await status(gate, workspace.publishable_key) == 403
    assert time.monotonic() - started < 1.0 + 0.5  # the bound, plus slack for a busy CI
    assert gate.metrics.invalidations.labels("version_check")._value.get() == 1
    await gate.stop()


async def test_killed_subscription_then_rule_still_enforced(
    gate: KeyGateMiddleware,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    ws = workspace.workspace_id
    assert await status(gate, workspace.publishable_key) == 200
    assert gate.invalidation.subscriptions == 1
    assert kill_pubsub(redis_client) >= 1
    store.add_rule(ws, Rule("projects", "list"), actor="test")
    version = store.workspace(ws).version
    started = time.monotonic()
    # Enforced by whichever comes first: resubscription (clears the cache) or the check.
    assert await gate.invalidation.wait_until(
        lambda: gate.invalidation.subscriptions >= 2 or gate.cache.known_version(ws) >= version,
        10,
    )
    assert await status(gate, workspace.publishable_key) == 403
    assert time.monotonic() - started < gate.config.check_interval + 1.0
    # And the listener came back by itself.
    assert await gate.invalidation.wait_subscribed(10)
    assert await gate.invalidation.wait_until(lambda: gate.invalidation.subscriptions >= 2, 10)
    assert gate.metrics.invalidations.labels("resubscribe")._value.get() == 1


async def test_resubscription_clears_the_cache(
    events_only: KeyGateMiddleware, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    assert await status(events_only, workspace.sdk_key) == 200
    assert len(events_only.cache) == 1
    kill_pubsub(redis_client)
    assert await events_only.invalidation.wait_until(
        lambda: events_only.invalidation.subscriptions >= 2, 10
    )
    assert len(events_only.cache) == 0


async def test_a_subscription_counts_only_once_caught_up(
    events_only: KeyGateMiddleware, redis_client: redis.Redis
) -> None:
    """Whoever waits for the subscription finds its catch-up (script, catalog) done: a
    start-up that returned mid catch-up let its store calls land in the caller's time."""
    invalidation = events_only.invalidation
    entered, release = asyncio.Event(), asyncio.Event()
    catch_up = invalidation.on_subscribed

    async def held() -> None:
        entered.set()
        await release.wait()
        await catch_up()

    invalidation.on_subscribed = held
    kill_pubsub(redis_client)
    await asyncio.wait_for(entered.wait(), 10)
    assert not invalidation.subscribed  # connected again, not caught up yet
    release.set()
    assert await invalidation.wait_subscribed(10)


def with_uncatalogued_open(catalog: Catalog) -> dict[str, Any]:
    """``catalog`` with its ``/uncatalogued`` route named ``misc.open``."""
    data = catalog.to_dict()
    data["modules"]["misc"] = {"functionalities": {"open": {}}}
    for entry in data["routes"]:
        if entry.get("path") == "/uncatalogued":
            entry["action"] = "misc.open"
    return data


async def test_catalog_event_recompiles_the_router(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace, app_catalog: Catalog
) -> None:
    pk = workspace.publishable_key
    assert await status(gate, pk, "/uncatalogued") == 403  # outside the catalog
    data = with_uncatalogued_open(app_catalog)
    fingerprint = store.save_catalog(Catalog.from_dict(data))
    assert await gate.invalidation.wait_until(
        lambda: gate.runtime.catalog_fingerprint == fingerprint, 10
    )
    assert await status(gate, pk, "/uncatalogued") == 200
    store.add_rule(workspace.workspace_id, Rule("misc", "open"), actor="test")
    ws = workspace.workspace_id
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version, 10)
    assert await status(gate, pk, "/uncatalogued") == 403


async def test_foreign_messages_on_the_channel_are_ignored(
    events_only: KeyGateMiddleware, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    assert await status(events_only, workspace.sdk_key) == 200
    for junk in ("hello", "ws_x 1", f"{workspace.workspace_id} notanumber", ""):
        redis_client.publish(schema.EVENTS_CHANNEL, junk)
    redis_client.publish(schema.EVENTS_CHANNEL, f"{workspace.workspace_id} 999")
    assert await events_only.invalidation.wait_version(workspace.workspace_id, 999, 10)
    assert events_only.invalidation.subscribed  # still listening


def test_a_lookup_older_than_an_event_is_not_cached() -> None:
    now = [0.0]
    cache = DecisionCache(
        size=10,
        ttl=60,
        negative_size=10,
        negative_ttl=5,
        stale_bound=30,
        timer=lambda: now[0],
    )
    ws = "ws_AAAAAAAAAAAA"
    cache.evict_workspace(ws, 5)  # the event for version 5 arrived first...
    stale = KeyPolicy(ws, KeyKind.SDK, "kid", version=4)
    assert not cache.put(CachedKey(b"k", stale, 0.0))  # ...so the in-flight answer is dropped
    assert b"k" not in cache.positive
    fresh = KeyPolicy(ws, KeyKind.SDK, "kid", version=5)
    assert cache.put(CachedKey(b"k", fresh, 0.0))
    assert b"k" in cache.positive
    cache.evict_workspace(ws, 6)
    assert b"k" not in cache.positive and cache.workspace_ids() == []


def test_a_version_check_older_than_an_event_cannot_lower_the_version() -> None:
    """The interleaving: a check is sent (the store still at 4), a revoke's event (5) arrives,
    then the check's answer (4); a lookup sent before the revoke answers last (4)."""
    now = [0.0]
    cache = DecisionCache(
        size=10, ttl=60, negative_size=10, negative_ttl=5, stale_bound=30, timer=lambda: now[0]
    )
    ws = "ws_AAAAAAAAAAAA"
    checked_at = now[0]
    now[0] = 0.1
    cache.evict_workspace(ws, 5)
    now[0] = 0.2
    cache.reconcile({ws: 4}, checked_at)
    assert cache.known_version(ws) == 5
    assert not cache.put(CachedKey(b"k", KeyPolicy(ws, KeyKind.SDK, "kid", version=4), 0.2))
    # A check sent after the event is authoritative, even downwards (a restored store).
    cache.reconcile({ws: 1}, now[0])
    assert cache.known_version(ws) == 1


async def test_lost_catalog_message_is_caught_by_the_periodic_reload(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    app_catalog: Catalog,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gateway.runtime.scheduler.CATALOG_CHECK_SECONDS", 0.2)
    gate = make_gate(check_interval=0.1, stale_bound=1.0)
    await gate.start()
    data = with_uncatalogued_open(app_catalog)
    catalog = Catalog.from_dict(data)
    redis_client.set(schema.CATALOG, catalog.to_json())  # saved, but its message lost
    assert await gate.invalidation.wait_until(
        lambda: gate.runtime.catalog_fingerprint == catalog.fingerprint(), 10
    )
    assert await status(gate, workspace.publishable_key, "/uncatalogued") == 200
    await gate.stop()
