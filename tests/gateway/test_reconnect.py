"""Start-up and reconnection costs: the script is loaded before the first key, a dropped
subscription comes back without waiting for a backoff (which starts from the second
failure in a row)."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile.redis_server import free_port
from policies import PolicyStore, Rule, Settings
from policies.storage.lua import LOOKUP
from policies.storage.values import CreatedWorkspace
from tests.gateway.keys.test_cache import Commands
from tests.support.apps import starlette_app
from tests.support.asgi import call, http_scope
from tests.support.gateway import Factory, kill_pubsub

pytestmark = pytest.mark.anyio


def request(key: str) -> dict[str, object]:
    return http_scope("/projects", "GET", [(b"authorization", f"Bearer {key}".encode())])


def script_everywhere(client: redis.Redis) -> bool:
    """The lookup script is loaded (on every primary of a cluster)."""
    loaded = client.script_exists(LOOKUP.sha)
    return bool(loaded) and all(loaded)


async def test_first_unknown_key_costs_one_round_trip(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    assert not script_everywhere(redis_client)  # the fixture flushed the script cache
    gate = make_gate(check_interval=60.0, stale_bound=60.0, cache_ttl=600.0)
    await gate.start()
    try:
        assert script_everywhere(redis_client)  # loaded by start(), before any request
        commands = Commands(redis_client)
        evalsha, eval_ = commands.calls("evalsha"), commands.calls("eval")
        assert (await call(gate, request(workspace.sdk_key))).status == 200
        assert commands.calls("evalsha") == evalsha + 1
        assert commands.calls("eval") == eval_  # no NOSCRIPT miss, no second trip
    finally:
        await gate.stop()


async def test_first_reconnect_does_not_wait_for_the_backoff(
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
) -> None:
    # A backoff this long would hold the listener for at least 2.5 s (equal jitter: half of
    # the delay, at least) if the first reconnection waited for it.
    gate = make_gate(reconnect_min=5.0, reconnect_max=5.0, check_interval=60.0, stale_bound=60.0)
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10)
        assert (await call(gate, request(workspace.publishable_key))).status == 200
        killed = kill_pubsub(redis_client)
        assert killed >= 1
        started = time.monotonic()
        assert await gate.invalidation.wait_until(lambda: gate.invalidation.subscriptions >= 2, 10)
        assert time.monotonic() - started < 2.0
        # Resubscribed means listening again: a rule now arrives as an event.
        ws = workspace.workspace_id
        store.add_rule(ws, Rule("projects", "list"), actor="test")
        assert await gate.invalidation.wait_version(ws, store.workspace(ws).version, 10)
        assert (await call(gate, request(workspace.publishable_key))).status == 403
    finally:
        await gate.stop()


async def test_backoff_starts_from_the_second_failure(
    master_key: str,
    digest_secret: str,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis away: attempt 2 follows attempt 1 at once; attempt 3 waits for the backoff."""
    nobody = Settings(f"redis://127.0.0.1:{free_port()}/0", (master_key,), digest_secret)
    gate = KeyGateMiddleware(
        starlette_app(), settings=nobody, registry=registry, reconnect_min=1.0, reconnect_max=1.0
    )
    caplog.set_level(logging.DEBUG, logger="keystile.gateway")
    await gate.start()
    try:
        assert await gate.invalidation.wait_until(lambda: gate.invalidation.attempts >= 3, 10)
        assert not gate.invalidation.subscribed
    finally:
        await gate.stop()
    # Each failed attempt logs one line as it ends (the first loud, the rest quiet).
    ended = [
        r.created
        for r in caplog.records
        if getattr(r, "event", None) == "gateway.subscription_lost"
    ]
    assert len(ended) >= 3
    assert ended[1] - ended[0] < 0.4  # no wait after the first failure
    assert ended[2] - ended[1] >= 0.5  # equal jitter: at least half of reconnect_min
