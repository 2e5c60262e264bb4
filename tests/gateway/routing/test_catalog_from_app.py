"""A FastAPI app behind the gateway: add_middleware, its own lifespan, docs left open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi import Request as FastAPIRequest
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


def included_app() -> FastAPI:
    """FastAPI's most common layout: routers included (nested, at prefixes, twice, with
    dependencies); each endpoint answers its own name and the action the gateway decided."""

    def ran(name: str) -> Any:
        async def endpoint(request: FastAPIRequest) -> dict[str, Any]:
            return {"ran": name, "decided": request.scope.get("state", {}).get("action")}

        return endpoint

    items = APIRouter()
    items.add_api_route("/{pid}", ran("projects.read"), methods=["GET"], name="projects.read")
    items.add_api_route(
        "/{pid}", ran("projects.change"), methods=["PATCH", "PUT"], name="projects.change"
    )
    items.add_api_route("/", ran("projects.list"), methods=["GET"], name="projects.list")
    outer = APIRouter(dependencies=[Depends(lambda: None)])
    outer.include_router(items, prefix="/projects")
    outer.add_api_route("/billing", ran("billing.read"), methods=["GET"], name="billing.read")
    app = FastAPI()
    app.include_router(outer, prefix="/v1")
    app.include_router(outer, prefix="/v2")
    app.add_api_route("/{page:path}", ran("pages.any"), methods=["GET"], name="pages.any")
    return app


async def test_fastapi_include_router_decides_the_endpoint_fastapi_runs(
    settings: Settings, registry: CollectorRegistry, store: PolicyStore
) -> None:
    """Regression (FastAPI 0.16x keeps ``_IncludedRouter`` in ``app.routes``): the catalog
    is derived, and for each request the action decided is the endpoint that ran."""
    app = included_app()
    catalog = catalog_from_app(app)
    store.save_catalog(catalog, force=True)
    ws = store.create_workspace("Included", actor="test")
    app.add_middleware(KeyGateMiddleware, settings=settings, registry=registry, catalog=catalog)
    sdk = bearer(ws.sdk_key)
    requests = [
        ("GET", "/v1/projects/7"),
        ("PATCH", "/v2/projects/7"),
        ("PUT", "/v1/projects/x"),
        ("GET", "/v1/projects/"),
        ("GET", "/v2/billing"),
        ("GET", "/v3/billing"),
        ("GET", "/v1/projects/7/extra"),
        ("GET", "/"),
    ]
    ran = []
    async with lifespan(app):
        assert await find_gate(app).invalidation.wait_subscribed(10)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for method, path in requests:
                answer = await http.request(method, path, headers=sdk)
                assert answer.status_code == 200, (method, path, answer.text)
                body = answer.json()
                assert body["decided"] == body["ran"], (method, path, body)
                ran.append(body["ran"])
            # A blacklisted action under a prefix is refused for the publishable key.
            store.add_rule(ws.workspace_id, Rule("billing", "read"), actor="test")
            pk = bearer(ws.publishable_key)
            version = store.workspace(ws.workspace_id).version
            assert await find_gate(app).invalidation.wait_version(ws.workspace_id, version)
            assert (await http.get("/v2/billing", headers=pk)).status_code == 403
            assert (await http.get("/v1/projects/7", headers=pk)).status_code == 200
    assert ran == [
        "projects.read",
        "projects.change",
        "projects.change",
        "projects.list",
        "billing.read",
        "pages.any",
        "pages.any",
        "pages.any",
    ]


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")
async def test_fastapi_root_path_is_the_one_the_gateway_routes_with(
    settings: Settings, registry: CollectorRegistry, store: PolicyStore
) -> None:
    """Regression (issue 22): ``FastAPI(root_path="/api")`` wrapped from outside sets the root
    path inside the gateway; ``GET /api/billing`` runs billing.read, not the catch-all."""

    def ran(name: str) -> Any:
        async def endpoint(request: FastAPIRequest) -> dict[str, Any]:
            return {"ran": name, "decided": request.scope.get("state", {}).get("action")}

        return endpoint

    app = FastAPI(root_path="/api")
    app.add_api_route("/billing", ran("billing.read"), methods=["GET"], name="billing.read")
    app.add_api_route("/{page:path}", ran("pages.any"), methods=["GET"], name="pages.any")
    catalog = catalog_from_app(app)
    store.save_catalog(catalog, force=True)
    ws = store.create_workspace("Rooted", actor="test")
    store.add_rule(ws.workspace_id, Rule("billing", "read"), actor="test")
    gate = KeyGateMiddleware(app, settings=settings, registry=registry, catalog=catalog)
    async with lifespan(gate):
        assert await gate.invalidation.wait_subscribed(10)
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            refused = await http.get("/api/billing", headers=bearer(ws.publishable_key))
            assert refused.status_code == 403 and refused.json()["code"] == "action_blocked"
            for path in ("/api/billing", "/api/x", "/billing"):
                body = (await http.get(path, headers=bearer(ws.sdk_key))).json()
                assert body["decided"] == body["ran"], (path, body)
