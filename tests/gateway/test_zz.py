import pytest
from tests.gateway.test_rate_limits import get, settled

pytestmark = pytest.mark.anyio


async def test_dbg(gate, store, workspace, clock):
    ws, key = workspace.workspace_id, workspace.publishable_key
    clock.now = 1_800_000_000.0
    store.set_limits(ws, "pk", ["3/min"], actor="test")
    await settled(gate, store, ws)
    for _ in range(4):
        await get(gate, key)
    c = next(iter(gate.runtime.limiter.counters.values()))

    def st():
        return dict(
            b=c.bucket,
            cur=c.current,
            prev=c.previous,
            pend=c.pending,
            pp=c.pending_previous,
            s=c.sending,
            n=c.processes,
        )

    print(st())
    clock.advance(79)
    print((await get(gate, key)).status, st(), c.estimate(clock.now))
    clock.advance(1)
    print((await get(gate, key)).status, st(), c.estimate(clock.now))
