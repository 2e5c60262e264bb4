"""A key refused for its rate limit is noticed (audited, queued for the workspace's security
notifications) at most once an hour: per process in memory, across processes in the store;
on the gateway's injected clock, through its usage flush."""

from __future__ import annotations

import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore
from policies.notify.endpoints import EndpointPolicy
from policies.operations import notify
from policies.storage.values import CreatedWorkspace
from tests.gateway.limits.test_rate_limits import get, settled
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def noticed(store: PolicyStore, ws: str) -> list[str]:
    return [e.detail["key_id"] for e in store.audit_tail(ws, 200) if e.action == "key.rate_limited"]


async def test_rate_limit_refusals_are_noticed_once_an_hour_per_key(
    gate: KeyGateMiddleware,
    make_gate: Factory,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    clock: ManualClock,
) -> None:
    ws, key = workspace.workspace_id, workspace.publishable_key
    policy = EndpointPolicy(("127.0.0.1",))
    store.run(notify.set_endpoint(store.ctx, ws, "http://127.0.0.1:9/h", policy, actor="t"))
    clock.now = 1_800_000_000.0
    store.limits.replace(ws, "pk", ["1/min"], actor="test")
    await settled(gate, store, ws)
    assert [(await get(gate, key)).status for _ in range(5)] == [200, 429, 429, 429, 429]
    await gate.flush_usage()
    [kid] = noticed(store, ws)
    other = make_gate()  # a second process: its own first note, refused by the store's hour
    await other.start()
    try:
        assert (await get(other, key)).status == 429
        await other.flush_usage()
        clock.advance(3599)
        assert [(await get(gate, key)).status for _ in range(2)] == [200, 429]
        await gate.flush_usage()
        assert noticed(store, ws) == [kid]
        clock.advance(1)
        assert (await get(gate, key)).status == 429
        await gate.flush_usage()
        assert noticed(store, ws) == [kid, kid]
    finally:
        await other.stop()
    assert store.run(notify.settings(store.ctx, ws)).pending == 2  # queued for the webhook
