"""Request to action: the compiled matcher agrees with Starlette's router."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route, WebSocketRoute

from gateway import Action, Router, catalog_from_app
from gateway.routing import template_regex
from policies import Catalog, CatalogError


def router(*routes: str) -> Router:
    """``router("GET /a projects.list", ...)``."""
    parsed = []
    for text in routes:
        method, path, action = text.split()
        module, functionality = action.split(".")
        parsed.append((method, path, module, functionality))
    return Router(parsed)


def name(action: Action | None) -> str | None:
    return None if action is None else action.name


def test_static_and_templated_paths() -> None:
    r = router(
        "GET /projects projects.list",
        "DELETE /projects/{project_id} projects.delete",
        "DELETE /members/{member_id:int} members.remove",
        "GET /files/{rest:path} files.read",
        "GET /prices/{amount:float} prices.read",
        "GET /things/{id:uuid} things.read",
    )
    assert name(r.match("GET", "/projects")) == "projects.list"
    assert name(r.match("DELETE", "/projects/abc")) == "projects.delete"
    assert r.match("DELETE", "/projects/a/b") is None  # {str} stops at '/'
    assert r.match("POST", "/projects") is None
    assert name(r.match("DELETE", "/members/42")) == "members.remove"
    assert r.match("DELETE", "/members/x42") is None
    assert name(r.match("GET", "/files/a/b/c.txt")) == "files.read"
    assert name(r.match("GET", "/prices/1.5")) == "prices.read"
    assert name(r.match("GET", "/things/3fa85f64-5717-4562-b3fc-2c963f66afa6")) == "things.read"
    assert r.match("GET", "/things/nope") is None


def test_first_declared_route_wins_like_starlette() -> None:
    r = router("GET /items/{item} items.read", "GET /items/special items.special")
    assert name(r.match("GET", "/items/special")) == "items.read"
    r = router("GET /items/special items.special", "GET /items/{item} items.read")
    assert name(r.match("GET", "/items/special")) == "items.special"
    assert name(r.match("GET", "/items/other")) == "items.read"


def test_head_falls_back_to_get_and_trailing_slash_toggles() -> None:
    r = router("GET /projects projects.list", "HEAD /projects/{p} projects.peek")
    assert name(r.match("HEAD", "/projects")) == "projects.list"
    assert name(r.match("HEAD", "/projects/1")) == "projects.peek"
    assert name(r.match("GET", "/projects/")) == "projects.list"
    assert r.match("GET", "/") is None


def test_websocket_routes_match_websockets_only() -> None:
    r = router("WEBSOCKET /events events.stream", "GET /feed feed.read")
    assert name(r.match("WEBSOCKET", "/events")) == "events.stream"
    assert r.match("GET", "/events") is None
    assert r.match("WEBSOCKET", "/feed") is None


def test_many_routes_one_regex() -> None:
    routes = [f"GET /r{i}/{{x}} m{i}.f" for i in range(300)]
    r = router(*routes)
    assert name(r.match("GET", "/r299/abc")) == "m299.f"
    assert name(r.match("GET", "/r0/abc")) == "m0.f"
    assert len(r.actions) == 300


def test_unknown_convertor_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="unknown convertor 'nope'"):
        template_regex("/a/{x:nope}")
    assert template_regex("/static/path") is None


@pytest.mark.anyio
async def test_router_from_catalog_agrees_with_starlette_on_the_same_requests() -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/a/{x:int}", ok, methods=["GET"], name="a.int"),
        Route("/a/{x}", ok, methods=["GET"], name="a.str"),
        Route("/a/fixed", ok, methods=["GET"], name="a.fixed"),
        Route("/b/{rest:path}", ok, methods=["GET", "POST"], name="b.any"),
    ]
    r = Router.from_catalog(catalog_from_app(routes))
    seen: list[str] = []

    async def recorder(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)
        seen.append(scope["route"].name)  # what Starlette's router chose

    app = Starlette(routes=routes)
    transport = httpx.ASGITransport(app=recorder)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ["/a/1", "/a/x", "/a/fixed", "/b/c/d"]:
            assert (await client.get(path)).status_code == 200
            assert name(r.match("GET", path)) == seen[-1]
    assert seen == ["a.int", "a.str", "a.str", "b.any"]  # /a/fixed: shadowed, in both


def test_catalog_from_app_walks_mounts_hosts_and_websockets() -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def ws(websocket: object) -> None:
        return None

    app = Starlette(
        routes=[
            Route("/health", ok, name="health"),  # no dot: not in the catalog
            Mount(
                "/api",
                routes=[
                    Route("/projects", ok, methods=["GET"], name="projects.list"),
                    WebSocketRoute("/events", ws, name="events.stream"),
                ],
            ),
            Host("admin.example", Starlette(routes=[Route("/x", ok, name="admin.x")])),
        ]
    )
    catalog = catalog_from_app(app)
    assert [(str(route), m, f) for route, m, f in catalog.routes()] == [
        ("GET /api/projects", "projects", "list"),
        ("WEBSOCKET /api/events", "events", "stream"),
        ("GET /x", "admin", "x"),
    ]


def test_catalog_from_app_refuses_one_route_under_two_names() -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/a", ok, methods=["GET"], name="a.one"),
        Route("/a", ok, methods=["GET"], name="a.two"),
    ]
    with pytest.raises(CatalogError, match="belongs to both"):
        catalog_from_app(routes)


def test_empty_router_matches_nothing() -> None:
    assert Router().match("GET", "/anything") is None
    assert Router.from_catalog(Catalog()).actions == ()


def test_templated_answers_are_memoised_within_a_bound() -> None:
    r = router("GET /p/{id:int} p.read")
    table = r._tables["GET"]
    for i in range(5000):
        assert name(r.match("GET", f"/p/{i}")) == "p.read"
        assert r.match("GET", f"/p/x{i}") is None
    assert 0 < len(table.memo) <= 4096
    assert name(r.match("GET", "/p/7")) == "p.read"  # right again from the memo


def test_static_table_gives_the_same_answers_as_match() -> None:
    """The request path probes ``Router.static`` first and calls match only on a miss."""
    r = router(
        "GET /items/{item} items.read",
        "GET /items/special items.special",  # covered by the template: items.read
        "GET /projects projects.list",
        "HEAD /projects projects.head",
        "POST /projects projects.create",
        "DELETE /projects/{id:int} projects.delete",
        "WEBSOCKET /live live.watch",
    )
    probes = [
        (method, path)
        for method in ("GET", "HEAD", "POST", "DELETE", "PUT", "WEBSOCKET", "get")
        for path in ("/projects", "/projects/", "/items/special", "/items/x", "/live", "/", "")
    ]
    found = 0
    for method, path in probes:
        static = r.static.get(method, {}).get(path)
        if static is not None:
            found += 1
            assert static is r.match(method, path), (method, path)
    assert found >= 6  # the static table did answer most catalogued static paths
    assert name(r.static["GET"]["/items/special"]) == "items.read"  # first declared wins
    assert name(r.static["HEAD"]["/projects"]) == "projects.head"  # explicit HEAD first
    assert "/items/{item}" not in r.static["GET"]  # templates are never static
