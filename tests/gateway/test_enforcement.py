"""Issue 10's attacks, each through a real uvicorn on loopback: the path travels as bytes on
the wire (``%0A`` decoded by uvicorn, as in production), the handler reports if it ran.

A publishable key whose workspace blacklists the route's action must never run it.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway import KeyGateMiddleware, catalog_from_app
from policies import ConfigError, PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.served import served

ran: list[str] = []
# The websockets client logs handshake headers (the key!) at DEBUG: not ours to log.
QUIET = logging.getLogger("tests.gateway.websockets-client")
QUIET.setLevel(logging.INFO)


def handler(label: str) -> Any:
    async def endpoint(request: Request) -> PlainTextResponse:
        ran.append(label)
        return PlainTextResponse(label)

    return endpoint


class Options(HTTPEndpoint):
    async def options(self, request: Request) -> PlainTextResponse:
        ran.append("options-handler")
        return PlainTextResponse("options ran")


async def socket(websocket: WebSocket) -> None:
    ran.append("ws-me")
    await websocket.accept()
    await websocket.close()


def routes() -> list[BaseRoute]:
    return [
        Route("/users/me", handler("users.me"), name="users.me"),
        Route("/users/{user_id}", handler("users.read"), name="users.read"),
        Route("/n/{n:int}", handler("n.int"), name="n.int"),
        Route("/n/{s}", handler("n.str"), name="n.str"),
        Route("/files/{name}", handler("files.secret"), name="files.secret"),
        Route("/{p:path}", handler("catchall.any"), name="catchall.any"),
    ]


def blacklist_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/health", handler("health")),  # unnamed: outside the catalog
            Route("/admin/{x}", handler("admin.x"), name="admin.x"),
            Route("/twice", handler("twice.a"), methods=["GET"], name="twice.a"),
            Route("/mid", handler("mid.b"), name="mid.b"),
            Route("/twice", handler("twice.a"), methods=["POST"], name="twice.a"),
            Mount(
                "/api", routes=[Route("/items/{id:int}", handler("api.items"), name="api.items")]
            ),
            Host(
                "internal.example",
                Starlette(routes=[Route("/x", handler("internal.x"), name="internal.x")]),
            ),
            Route("/x", handler("public.x"), name="public.x"),
            Route("/opt", Options, name="opt.any"),
            WebSocketRoute("/ws/me", socket, name="ws.me"),
            *routes(),
        ]
    )


@pytest.fixture
def blocked_store(store: PolicyStore, workspace: CreatedWorkspace) -> PolicyStore:
    store.save_catalog(catalog_from_app(blacklist_app()))
    ws = workspace.workspace_id
    for module, functionality in [
        ("users", "me"),
        ("n", "int"),
        ("files", "secret"),
        ("admin", "x"),
        ("api", "items"),
        ("internal", "x"),
        ("ws", "me"),
        ("opt", "any"),
    ]:
        store.add_rule(ws, Rule(module, functionality), actor="test")
    return store


@contextlib.contextmanager
def served_gateway(settings: Settings, app: Any, **options: Any) -> Iterator[str]:
    gate = KeyGateMiddleware(app, settings=settings, registry=CollectorRegistry(), **options)
    with served(gate) as base:
        yield base


def raw_get(base: str, target: str, headers: dict[str, str], method: str = "GET") -> int:
    """A request whose target goes on the wire byte for byte (no client normalisation)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": "testserver", **headers}.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "target",
    [
        "/users/me%0A",
        "/users/me%0D",
        "/users/me%00",
        "/n/5%0A",
        "/files/report%0A",
        "/admin/x%0A",
        "/api/items/3%0A",
    ],
)
def test_encoded_control_characters_never_reach_a_blocked_handler(
    settings: Settings, blocked_store: PolicyStore, workspace: CreatedWorkspace, target: str
) -> None:
    ran.clear()
    pk = {"Authorization": f"Bearer {workspace.publishable_key}"}
    with served_gateway(settings, blacklist_app(), unmatched="allow") as base:
        assert raw_get(base, target, pk) == 400
        assert raw_get(base, target, {"Authorization": f"Bearer {workspace.sdk_key}"}) == 400
    assert ran == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_websocket_path_with_a_newline_is_refused_before_routing(
    settings: Settings, blocked_store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ran.clear()
    headers = {"Authorization": f"Bearer {workspace.sdk_key}"}
    with served_gateway(settings, blacklist_app()) as base:
        url = base.replace("http://", "ws://")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "/ws/me%0A", additional_headers=headers, logger=QUIET):
                pass
        assert refused.value.response.status_code == 403  # uvicorn's answer to a close
        async with connect(url + "/ws/me", additional_headers=headers, logger=QUIET) as ok:
            await ok.wait_closed()
    assert ran == ["ws-me"]


@pytest.mark.slow
def test_declaration_order_mounts_hosts_and_unnamed_routes(
    settings: Settings, blocked_store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ran.clear()
    pk = {"Authorization": f"Bearer {workspace.publishable_key}"}
    with served_gateway(settings, blacklist_app(), unmatched="allow") as base:
        assert raw_get(base, "/users/me", pk) == 403
        assert raw_get(base, "/users/42", pk) == 200  # users.read: allowed
        assert raw_get(base, "/n/5", pk) == 403  # int convertor first: n.int
        assert raw_get(base, "/n/five", pk) == 200
        assert raw_get(base, "/admin/panel", pk) == 403  # the template, not the catch-all
        assert raw_get(base, "/api/items/3", pk) == 403  # inside the mount
        assert raw_get(base, "/api/items/pen", pk) == 404  # the mount answers alone
        assert raw_get(base, "/x", {**pk, "Host": "internal.example"}) == 403
        assert raw_get(base, "/x", pk) == 200  # another host: public.x
        assert raw_get(base, "/health", pk) == 200  # unnamed: its own route
        assert raw_get(base, "/twice", pk, "POST") == 200
    assert "users.me" not in ran and "n.int" not in ran and "admin.x" not in ran
    assert "api.items" not in ran and "internal.x" not in ran
    assert ran.count("public.x") == 1 and "health" in ran


@pytest.mark.slow
def test_a_keyless_preflight_never_runs_an_options_handler(
    settings: Settings, blocked_store: PolicyStore
) -> None:
    ran.clear()
    preflight = {"Access-Control-Request-Method": "POST", "Origin": "https://a.example"}
    with served_gateway(settings, blacklist_app()) as base:
        assert raw_get(base, "/opt", preflight, "OPTIONS") == 401
        assert raw_get(base, "/users/me", preflight, "OPTIONS") == 405  # the app's own answer
    assert ran == []
    # With Starlette's CORSMiddleware inside the gateway, it answers the preflight itself.
    app = Starlette(routes=blacklist_app().routes)
    inner = CORSMiddleware(app, allow_origins=["https://a.example"], allow_methods=["*"])
    with served_gateway(settings, inner) as base:
        assert raw_get(base, "/opt", preflight, "OPTIONS") == 200
    assert ran == []


@pytest.mark.anyio
async def test_refusals_carry_the_inner_cors_headers(
    settings: Settings, blocked_store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    app = Starlette(
        routes=blacklist_app().routes,
        middleware=[
            Middleware(KeyGateMiddleware, settings=settings, registry=CollectorRegistry()),
            Middleware(CORSMiddleware, allow_origins=["https://a.example"], allow_methods=["*"]),
        ],
    )
    headers = {
        "Authorization": f"Bearer {workspace.publishable_key}",
        "Origin": "https://a.example",
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        refused = await http.get("/users/me", headers=headers)
        allowed = await http.get("/users/42", headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "action_blocked"
    assert refused.headers["access-control-allow-origin"] == "https://a.example"
    assert allowed.headers["access-control-allow-origin"] == "https://a.example"


def test_exempt_paths_are_whole_segments_and_never_cover_a_catalogued_route(
    settings: Settings,
) -> None:
    app = blacklist_app()
    catalog = catalog_from_app(app)
    registry = CollectorRegistry
    with pytest.raises(ConfigError, match="covers"):
        KeyGateMiddleware(app, settings=settings, catalog=catalog, exempt_paths=["/users*"])
    with pytest.raises(ConfigError, match="covers"):
        KeyGateMiddleware(app, settings=settings, catalog=catalog, exempt_paths=["/users/me"])
    with pytest.raises(ConfigError, match="covers"):
        KeyGateMiddleware(app, settings=settings, catalog=catalog, exempt_paths=["/api/*"])
    fine = KeyGateMiddleware(
        Starlette(
            routes=[Route("/docs", handler("docs")), Route("/docsearch", handler("s"), name="s.q")]
        ),
        settings=settings,
        registry=registry(),
        exempt_paths=["/docs*"],
    )
    assert "/docs" in fine._exempt and fine._exempt_prefixes == ("/docs/",)
    allowed = KeyGateMiddleware(
        app,
        settings=settings,
        catalog=catalog,
        exempt_paths=["/users*"],
        exempt_catalogued=True,
        registry=registry(),
    )
    assert allowed.config.exempt_catalogued


@pytest.mark.anyio
async def test_a_catalog_the_gateway_cannot_compile_is_refused_once_without_spinning(
    settings: Settings,
    blocked_store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = KeyGateMiddleware(blacklist_app(), settings=settings, registry=CollectorRegistry())
    await gate.start()
    assert await gate.invalidation.wait_subscribed(10)
    good = gate.runtime.catalog_fingerprint
    subscriptions = gate.invalidation.subscriptions
    broken = (
        '{"modules":{"m":{"functionalities":{"f":{}}}},"convertors":["nope"],'
        '"routes":[{"path":"/a/{x:nope}","action":"m.f"}]}'
    )
    redis_client.set("ks:catalog", broken)
    caplog.set_level(logging.ERROR, logger="keystile.gateway")
    for _ in range(5):
        redis_client.publish("ks:events", "catalog broken")
        await gate.runtime.reload_catalog()
    refused = [r for r in caplog.records if "unusable" in r.getMessage()]
    assert len(refused) == 1
    assert gate.runtime.catalog_fingerprint == good  # the last good router decides
    assert gate.invalidation.subscriptions == subscriptions  # no re-subscription storm
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get(
            "/users/me", headers={"Authorization": f"Bearer {workspace.publishable_key}"}
        )
    assert answer.status_code == 403
    await gate.stop()


@pytest.mark.anyio
async def test_request_user_and_auth_are_read_only(
    settings: Settings, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    outcomes: list[str] = []

    async def tamper(request: Request) -> PlainTextResponse:
        for attempt in (
            lambda: setattr(request.user, "workspace_id", "ws_other"),
            lambda: setattr(request.user, "anything", 1),
            lambda: request.auth.scopes.append("sdk"),
        ):
            try:
                attempt()
                outcomes.append("changed")
            except TypeError:
                outcomes.append("refused")
        return PlainTextResponse(request.user.workspace_id)

    app = Starlette(routes=[Route("/t", tamper, name="t.t")])
    store.save_catalog(catalog_from_app(app))
    gate = KeyGateMiddleware(app, settings=settings, registry=CollectorRegistry())
    transport = httpx.ASGITransport(app=gate)
    headers = {"Authorization": f"Bearer {workspace.publishable_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        first = await http.get("/t", headers=headers)
        second = await http.get("/t", headers=headers)
    await gate.stop()
    assert outcomes == ["refused"] * 6
    assert first.text == second.text == workspace.workspace_id
