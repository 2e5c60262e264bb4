"""Start and stop: with the app's lifespan, lazily without one, again on a new event loop."""

from __future__ import annotations

import asyncio
import gc

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware

from gateway import KeyGateMiddleware
from policies import PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.apps import demo_routes, starlette_app
from tests.support.apps import lifespan as app_lifespan
from tests.support.asgi import call, http_scope, lifespan
from tests.support.gateway import Factory


def request(key: str) -> dict[str, object]:
    return http_scope(headers=[(b"authorization", f"Bearer {key}".encode())])


@pytest.mark.anyio
async def test_lifespan_starts_and_stops_the_gateway(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate()
    async with lifespan(gate) as state:
        assert state == {"lifespan": "ran"}  # the app's own lifespan still runs
        assert gate.runtime.reader is not None
        assert await gate.invalidation.wait_subscribed(10)
        scope = request(workspace.sdk_key)
        scope["state"] = dict(state)  # what a server hands each request
        caller = (await call(gate, scope)).json()["caller"]
        assert caller["lifespan"] == "ran"  # the gateway adds to the state, keeps the rest
        assert caller["workspace_id"] == workspace.workspace_id
    assert gate.runtime.reader is None
    assert all(task.done() for task in asyncio.all_tasks() if "gateway" in task.get_name())


@pytest.mark.anyio
async def test_stop_flushes_last_used_times(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(touch_interval=60.0)
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    async with lifespan(gate):
        assert (await call(gate, request(token.token))).status == 200
    [info] = store.list_tokens(workspace.workspace_id)
    assert info.last_used is not None


def test_a_new_event_loop_gets_a_fresh_gateway(
    settings: Settings, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """As with successive test-client sessions: each loop gets its own client and tasks."""
    gate = KeyGateMiddleware(starlette_app(), settings=settings, registry=CollectorRegistry())
    ws = workspace.workspace_id

    async def session(expected: int) -> None:
        assert (await call(gate, request(workspace.publishable_key))).status == expected
        assert await gate.invalidation.wait_subscribed(10)

    asyncio.run(session(200))  # lazily started on this loop, never stopped
    store.add_rule(ws, Rule("projects", "list"), actor="test")  # while no loop runs
    asyncio.run(session(403))  # a new loop: fresh client, cache cleared, rule applies
    asyncio.run(gate.stop())


@pytest.mark.anyio
async def test_mounted_with_starlettes_middleware_list(
    settings: Settings, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    registry = CollectorRegistry()
    app = Starlette(
        routes=demo_routes(),
        lifespan=app_lifespan,
        middleware=[
            Middleware(
                KeyGateMiddleware.from_settings,
                settings,
                registry=registry,
                exempt_paths=["/health"],
            )
        ],
    )
    async with lifespan(app) as state:
        assert state == {"lifespan": "ran"}
        assert (await call(app, http_scope("/health"))).status == 200
        missing = await call(app, http_scope())
        assert missing.status == 401 and missing.json()["code"] == "missing_key"
        scope = request(workspace.sdk_key)
        scope["state"] = dict(state)
        assert (await call(app, scope)).json()["caller"]["key_kind"] == "sk"
    assert registry.get_sample_value("keystile_gateway_subscribed") == 0


def test_requests_trust_a_flag_that_the_end_of_a_loop_clears(
    settings: Settings, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """Hits ask ``Runtime.stale`` instead of asyncio for the running loop."""
    gate = KeyGateMiddleware(starlette_app(), settings=settings, registry=CollectorRegistry())
    loops: list[asyncio.AbstractEventLoop] = []

    async def session() -> None:
        assert (await call(gate, request(workspace.sdk_key))).status == 200
        assert not gate.runtime.stale() and gate.runtime.loop is asyncio.get_running_loop()
        loops.append(asyncio.get_running_loop())

    asyncio.run(session())
    assert gate.runtime.stale()  # asyncio.run cancelled the ticker as the loop closed
    asyncio.run(session())  # so the next request looked at its loop and started afresh
    assert loops[0] is not loops[1]
    asyncio.run(gate.stop())
    assert gate.runtime.stale()


# The abandoned listener, collected without a loop, reports "no running event loop" (and,
# on a cluster, its node connection's never-awaited disconnect): the point of this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_a_loop_closed_with_its_tasks_still_pending_is_noticed(
    settings: Settings, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """Some runners close a loop without cancelling its tasks: the ticker never ends."""
    gate = KeyGateMiddleware(starlette_app(), settings=settings, registry=CollectorRegistry())
    ws = workspace.workspace_id
    first = asyncio.new_event_loop()

    async def session(expected: int) -> None:
        assert (await call(gate, request(workspace.publishable_key))).status == expected
        assert await gate.invalidation.wait_subscribed(10)

    first.run_until_complete(session(200))
    first.close()  # the listener and ticker stay pending, never cancelled
    assert gate.runtime.stale()
    store.add_rule(ws, Rule("projects", "list"), actor="test")  # no listener hears this
    asyncio.run(session(403))  # a hit would say 200: the new loop started afresh instead
    asyncio.run(gate.stop())
    gc.collect()  # the first loop's tasks, here rather than at the end of the session
