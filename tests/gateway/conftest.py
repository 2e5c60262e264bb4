"""Gateway fixtures: settings for the suite's Redis, a workspace, the app's catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware, catalog_from_app
from policies import Catalog, PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.apps import starlette_app
from tests.support.authz import api_catalog
from tests.support.gateway import Factory


@pytest.fixture
def settings(redis_url: str, master_key: str, digest_secret: str) -> Settings:
    return Settings(redis_url, (master_key,), digest_secret)


@pytest.fixture
def app_catalog() -> Catalog:
    return catalog_from_app(starlette_app())


@pytest.fixture
def store(store: PolicyStore, app_catalog: Catalog) -> PolicyStore:
    """The suite's store, holding the test app's catalog (a superset of the demo's)."""
    store.save_catalog(app_catalog)
    return store


@pytest.fixture
def workspace(store: PolicyStore) -> CreatedWorkspace:
    return store.create_workspace("Acme", actor="test")


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def make_gate(settings: Settings, registry: CollectorRegistry, clock: Any) -> Factory:
    """``make_gate(app=None, **options)``: a gateway with test-friendly defaults."""

    def make(app: Any = None, **options: Any) -> KeyGateMiddleware:
        options = {
            "settings": settings,
            "registry": registry,
            "clock": clock,
            "exempt_paths": ["/health", "/docs/*"],
            # A loaded 2-core CI machine can stall a healthy Redis round trip past the 0.5 s
            # default; tests of slowness set their own (tests/gateway/test_slow_redis.py).
            "store_timeout": 2.0,
            **options,
        }
        return KeyGateMiddleware(starlette_app() if app is None else app, **options)

    return make


@pytest.fixture
async def gate(make_gate: Factory, store: PolicyStore) -> AsyncIterator[KeyGateMiddleware]:
    """A started gateway (subscribed) in front of the Starlette app; stopped afterwards."""
    middleware = make_gate()
    await middleware.start()
    assert await middleware.invalidation.wait_subscribed(10)
    yield middleware
    await middleware.stop()


# -- keystile authz: a non-Python API's catalog (tests/support/authz.py) ------------
@pytest.fixture
def api_store(store: PolicyStore) -> PolicyStore:
    store.save_catalog(api_catalog())
    return store


@pytest.fixture
def ws(api_store: PolicyStore) -> CreatedWorkspace:
    workspace = api_store.create_workspace("Acme", actor="test")
    api_store.add_rule(workspace.workspace_id, Rule("billing", "read"), actor="test")
    return workspace
