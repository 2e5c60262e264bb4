"""A FastAPI app behind the gateway: add_middleware, its own lifespan, docs left open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from gateway import KeyGateMiddleware, catalog_from_app
from policies import PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.apps import fastapi_app
from tests.support.asgi import lifespan
from tests.support.gateway import bearer

pytestmark = pytest.mark.anyio


def find_gate(app: Any) -> KeyGateMiddleware:
    """The middleware instance inside the app's built stack."""
    layer = app.middleware_stack
    while not isinstance(layer, KeyGateMiddleware):
        layer = layer.app
    return layer


@pytest.fixture
async def api(
    settings: Settings, registry: CollectorRegistry, store: PolicyStore
) -> AsyncIterator[tuple[FastAPI, KeyGateMiddleware]]:
    app = fastapi_app()
    app.add_middleware(
        KeyGateMiddleware,
        settings=settings,
        registry=registry,
        catalog=catalog_from_app(app),
        exempt_paths=["/health", "/docs", "/openapi.json"],
    )
    async with lifespan(app) as state:
        assert state == {"lifespan": "ran"}  # the app's own lifespan ran through the gateway
        gate = find_gate(app)
        assert await gate.invalidation.wait_subscribed(10)
        yield app, gate


async def test_fastapi_behind_the_gateway(
    api: tuple[FastAPI, KeyGateMiddleware], store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    app, gate = api
    ws = workspace.workspace_id
    store.add_rule(ws, Rule("billing", "read"), actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    pk = bearer(workspace.publishable_key)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        assert (await http.get("/openapi.json")).status_code == 200  # exempt
        assert (await http.get("/docs")).status_code == 200
        assert (await http.get("/health")).json() == {"ok": True}

        missing = await http.get("/projects")
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"

        listed = await http.get("/projects", headers=pk)
        assert listed.status_code == 200
        caller = listed.json()["caller"]
        assert (caller["workspace_id"], caller["key_kind"], caller["action"]) == (
            ws,
            "pk",
            "projects.list",
        )

        deleted = await http.delete("/projects/p-1", headers=pk)
        assert deleted.json() == {
            "deleted": "p-1",
            "caller": {**caller, "action": "projects.delete"},
        }

        blocked = await http.get("/billing", headers=pk)
        assert blocked.status_code == 403
        assert blocked.json()["module"] == "billing"

        # The SDK key reaches FastAPI's own 404 for a route nobody declared.
        lost = await http.get("/nowhere", headers=bearer(workspace.sdk_key))
        assert lost.status_code == 404
        assert lost.headers["content-type"] == "application/json"


async def test_fastapi_catalog_skips_unnamed_routes() -> None:
    catalog = catalog_from_app(fastapi_app())
    assert catalog.module_names() == ["projects", "billing"]
    assert catalog.functionalities_of("projects") == ["list", "create", "delete"]
