"""Redis goes away and comes back: cached keys keep serving to the stale bound, the rest get
503, and the gateway recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware
from keystile.redis_server import RedisServer
from policies import Catalog, PolicyStore, Settings
from policies.keys.keyformat import KeyKind, generate
from policies.storage.connections import sync_client
from tests.support.apps import starlette_app
from tests.support.asgi import Answer, call, http_scope, websocket, websocket_scope
from tests.support.clock import ManualClock

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FAST: dict[str, Any] = {
    "check_interval": 0.2,
    "reconnect_min": 0.05,
    "reconnect_max": 0.3,
    "start_timeout": 1.0,
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of our own, to stop and restart (append-only: data survives the restart)."""
    server = RedisServer(tmp_path / "redis", persistent=True)
    yield server
    server.stop()


def settings_for(server: RedisServer, master_key: str, digest_secret: str) -> Settings:
    return Settings(server.url, (master_key,), digest_secret)


def seed(server: RedisServer, settings: Settings, catalog: Catalog) -> tuple[str, str, str]:
    client = sync_client(server.url)
    store = PolicyStore(client, settings.keyring())
    store.save_catalog(catalog)
    created = store.create_workspace("Acme", actor="test")
    client.close()
    return created.workspace_id, created.sdk_key, created.publishable_key


async def get(gate: KeyGateMiddleware, key: str) -> Answer:
    return await call(gate, http_scope(headers=[(b"authorization", f"Bearer {key}".encode())]))


async def test_redis_stopped_and_restarted(
    server: RedisServer, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    server.start()
    settings = settings_for(server, master_key, digest_secret)
    _, sdk, publishable = seed(server, settings, app_catalog)
    timer = ManualClock(1000.0)
    registry = CollectorRegistry()
    gate = KeyGateMiddleware(
        starlette_app(), settings=settings, registry=registry, timer=timer, **FAST
    )
    await gate.start()
    try:
        assert await gate.invalidation.wait_subscribed(10)
        assert (await get(gate, sdk)).status == 200  # now cached

        server.stop()
        assert await gate.invalidation.wait_until(lambda: not gate.invalidation.subscribed, 10)
        assert (await get(gate, sdk)).status == 200  # cached: keeps serving
        unknown = await get(gate, publishable)  # never seen: cannot be decided
        assert unknown.status == 503
        assert unknown.headers[b"retry-after"] == b"2"
        assert unknown.json()["code"] == "store_unavailable"
        refused = await websocket(
            gate, websocket_scope("/events", [(b"x-api-key", publishable.encode())])
        )
        assert refused == [{"type": "websocket.close", "code": 1013, "reason": "store_unavailable"}]

        # Once a version check has failed, requests look at each entry's age.
        assert await gate.invalidation.wait_until(lambda: gate.cache.degraded, 10)
        assert (await get(gate, sdk)).status == 200  # still within the stale bound
        timer.advance(gate.config.stale_bound + 1)  # past the stale bound
        assert (await get(gate, sdk)).status == 503

        server.start()  # same port, same data; no gateway restart
        assert await gate.invalidation.wait_subscribed(10)
        assert (await get(gate, sdk)).status == 200
        assert (await get(gate, publishable)).status == 200
        assert await gate.invalidation.wait_check(10)
        assert gate.invalidation.store_ok
        lookups_failed = registry.get_sample_value(
            "keystile_gateway_store_errors_total", {"operation": "lookup"}
        )
        assert lookups_failed is not None and lookups_failed >= 2
    finally:
        await gate.stop()


async def test_gateway_starts_while_redis_is_down(
    server: RedisServer, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    settings = settings_for(server, master_key, digest_secret)
    gate = KeyGateMiddleware(
        starlette_app(), settings=settings, registry=CollectorRegistry(), **FAST
    )
    await gate.start()  # does not raise, does not hang
    try:
        assert not gate.invalidation.subscribed
        down = await get(gate, generate(KeyKind.SDK, "ws_AAAAAAAAAAAA"))
        assert down.status == 503 and down.json()["code"] == "store_unavailable"
        assert (await get(gate, "sk_" + "x" * 50)).status == 401  # malformed: no store needed
        server.start()
        _, sdk, _ = seed(server, settings, app_catalog)
        assert await gate.invalidation.wait_subscribed(10)
        assert await gate.invalidation.wait_until(lambda: gate.runtime.router is not None, 10)
        answer = await get(gate, sdk)
        assert answer.status == 200, answer.body
        assert answer.json()["caller"]["action"] == "projects.list"
    finally:
        await gate.stop()


async def test_no_catalog_in_the_store_yet(
    server: RedisServer, master_key: str, digest_secret: str, app_catalog: Catalog
) -> None:
    """Everything is outside the catalog until one is saved; then it applies at once."""
    server.start()
    settings = settings_for(server, master_key, digest_secret)
    client = sync_client(server.url)
    store = PolicyStore(client, settings.keyring())
    created = store.create_workspace("Acme", actor="test")
    gate = KeyGateMiddleware(starlette_app(), settings=settings, registry=CollectorRegistry())
    await gate.start()
    try:
        refused = await get(gate, created.publishable_key)
        assert refused.status == 403 and refused.json()["code"] == "route_not_in_catalog"
        assert (await get(gate, created.sdk_key)).status == 200
        fingerprint = store.save_catalog(app_catalog)
        assert await gate.invalidation.wait_until(
            lambda: gate.runtime.catalog_fingerprint == fingerprint, 10
        )
        assert (await get(gate, created.publishable_key)).status == 200
    finally:
        await gate.stop()
        client.close()
