"""Last-used times: batched by the gateway, never a Redis write per request."""

from __future__ import annotations

import pytest
import redis

from gateway import KeyGateMiddleware
from gateway.keys.cached_key import CachedKey
from gateway.usage.last_used import UsageRecorder
from policies import PolicyStore
from policies.keys.keyformat import KeyKind
from policies.storage import schema
from policies.storage.values import CreatedWorkspace, KeyPolicy
from tests.support.asgi import call, http_scope
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def request(key: str) -> dict[str, object]:
    return http_scope(headers=[(b"authorization", f"Bearer {key}".encode())])


async def test_flush_writes_only_keys_used_since_the_last_one(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    used = store.create_token(ws, "used", actor="test")
    idle = store.create_token(ws, "idle", actor="test")
    for _ in range(5):
        assert (await call(gate, request(used.token))).status == 200
    assert await gate.flush_usage() == 1
    last_used = {t.key_id: t.last_used for t in store.list_tokens(ws)}
    assert last_used == {used.info.key_id: clock.now, idle.info.key_id: None}
    assert await gate.flush_usage() == 0  # nothing new since
    assert (await call(gate, request(used.token))).status == 200  # a cache hit
    assert await gate.flush_usage() == 1


async def test_background_flush(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    gate = make_gate(check_interval=0.1, touch_interval=0.2, stale_bound=1.0)
    await gate.start()
    assert (await call(gate, request(workspace.sdk_key))).status == 200
    [entry] = gate.cache.entries()
    key = schema.last_used(workspace.workspace_id)
    # The ticker re-tests this after each of its checks, flushes included.
    assert await gate.invalidation.wait_until(
        lambda: redis_client.hget(key, entry.key_id) is not None, 10
    )
    await gate.stop()


def test_failed_flush_keeps_its_keys_and_evictions_keep_their_marks() -> None:
    recorder = UsageRecorder(clock=lambda: 123.0)
    policy = KeyPolicy("ws_AAAAAAAAAAAA", KeyKind.TOKEN, "kid1", version=1)
    entry = CachedKey(b"k", policy, 0.0)
    assert recorder.collect([entry]) == {}  # never used
    entry.used = True
    recorder.evicted(entry)  # used, then left the cache before the flush
    usage = recorder.collect([])
    assert usage == {"ws_AAAAAAAAAAAA": {"kid1": 123.0}}
    recorder.restore(usage)  # Redis was away
    assert len(recorder) == 1
    assert recorder.collect([]) == usage
    assert recorder.collect([entry]) == {}  # not used since that flush
