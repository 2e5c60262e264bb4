"""Request to action: the gateway's router answers with the route Starlette's router runs.

The differential property test (every app shape against the real app) is in
``test_routing_differential.py``; these are the named cases and the catalog's table.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute

from gateway import Action, Router, catalog_from_app
from gateway.routing.router import REDIRECT
from policies import Catalog, CatalogError, RouteEntry


async def ok(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def ws(websocket: object) -> None:
    return None


class Things(HTTPEndpoint):
    async def get(self, request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")


def name(action: Action | None) -> str | None:
    return None if action is None else action.name


def router_of(*routes: BaseRoute, redirect_slashes: bool = True) -> Router:
    app = Starlette(routes=list(routes))
    app.router.redirect_slashes = redirect_slashes
    return Router(catalog_from_app(app))


def test_the_tutorial_layout_and_a_trailing_newline() -> None:
    r = router_of(
        Route("/users/me", ok, name="users.me"),
        Route("/users/{user_id}", ok, name="users.read"),
    )
    assert name(r.match("GET", "/users/me")) == "users.me"
    assert name(r.match("GET", "/users/42")) == "users.read"
    # Starlette's "$" matches before a final newline: the app runs users.me for this path,
    # and so does the gateway's decision (the middleware refuses it earlier anyway).
    assert name(r.match("GET", "/users/me\n")) == "users.me"


def test_declaration_order_wins_across_names() -> None:
    r = router_of(
        Route("/a/{x}", ok, name="a.template"),
        Route("/a/{p:path}", ok, name="a.catchall"),
        Route("/a/fixed", ok, name="a.template"),
    )
    assert name(r.match("GET", "/a/fixed")) == "a.template"
    assert name(r.match("GET", "/a/b/c")) == "a.catchall"


def test_unnamed_routes_keep_their_paths_outside_the_catalog() -> None:
    r = router_of(Route("/p/health", ok), Route("/p/{x}", ok, name="p.read"))
    assert r.match("GET", "/p/health") is None
    assert name(r.match("GET", "/p/other")) == "p.read"


def test_methods_head_405_and_slash_redirects() -> None:
    r = router_of(
        Route("/projects", ok, methods=["GET"], name="projects.list"),
        Route("/projects", ok, methods=["POST"], name="projects.create"),
    )
    assert name(r.match("HEAD", "/projects")) == "projects.list"
    assert name(r.match("POST", "/projects")) == "projects.create"
    assert r.match("PUT", "/projects") is None  # 405: nothing runs
    # A slash redirect is decided as where it leads (issue 22: a path-rewriting middleware
    # would run that route); a redirect to a method the target does not take runs nothing.
    assert name(r.match("GET", "/projects/")) == "projects.list"
    assert name(r.match("POST", "/projects//")) == "projects.create"
    assert r.match("PUT", "/projects/") is REDIRECT
    # Without the redirect the app answers 404, and a slash-stripping middleware runs /a:
    # decided as /a, so a rule on a.b holds either way.
    no_redirect = router_of(Route("/a", ok, name="a.b"), redirect_slashes=False)
    assert name(no_redirect.match("GET", "/a/")) == "a.b"
    assert no_redirect.match("GET", "/a/b") is None


def test_class_endpoints_answer_any_method() -> None:
    r = router_of(Route("/things", Things, name="things.any"))
    assert name(r.match("DELETE", "/things")) == "things.any"
    assert name(r.match("BREW", "/things")) == "things.any"


def test_mounts_take_their_prefix_and_decide_alone() -> None:
    r = router_of(
        Mount("/api", routes=[Route("/items/{id:int}", ok, name="items.read")]),
        Route("/api/items/{name}", ok, name="items.byname"),  # never reached: the mount decides
        Mount("/static", app=PlainTextResponse("x"), name="files.read"),
    )
    assert name(r.match("GET", "/api/items/3")) == "items.read"
    assert r.match("GET", "/api/items/pen") is None  # the mount's router answers 404
    assert name(r.match("GET", "/static/a/b.css")) == "files.read"


def test_hosts_match_on_the_host_header() -> None:
    r = router_of(
        Host("admin.example.com", Starlette(routes=[Route("/x", ok, name="admin.x")])),
        Route("/x", ok, name="public.x"),
    )
    assert r.by_host
    assert name(r.resolve("GET", "/x", host=b"admin.example.com:8000")) == "admin.x"
    assert name(r.resolve("GET", "/x", host=b"other.example.com")) == "public.x"
    assert name(r.resolve("GET", "/x")) == "public.x"


def test_websocket_routes_match_websockets_only() -> None:
    r = router_of(
        WebSocketRoute("/events", ws, name="events.stream"), Route("/feed", ok, name="f.r")
    )
    assert name(r.match("WEBSOCKET", "/events")) == "events.stream"
    assert r.match("GET", "/events") is None
    assert r.match("WEBSOCKET", "/feed") is None


def test_root_path_is_the_apps_mount_point() -> None:
    r = router_of(Route("/a", ok, name="a.b"))
    assert name(r.resolve("GET", "/prefix/a", "/prefix")) == "a.b"
    assert r.resolve("GET", "/prefix/b", "/prefix") is None


def test_answers_are_memoised_within_a_bound() -> None:
    r = router_of(Route("/p/{id:int}", ok, name="p.read"))
    for i in range(5000):
        assert name(r.match("GET", f"/p/{i}")) == "p.read"
        assert r.match("GET", f"/p/x{i}") is None
    assert 0 < r._memo_size <= 4096
    assert name(r.match("GET", "/p/7")) == "p.read"


def test_static_paths_are_resolved_once_by_the_router() -> None:
    r = router_of(
        Route("/items/{item}", ok, name="items.read"),
        Route("/items/special", ok, name="items.read"),
        Route("/projects", ok, methods=["GET"], name="projects.list"),
    )
    for method, path in (("GET", "/items/special"), ("POST", "/projects"), ("HEAD", "/projects")):
        r.match(method, path)  # a static path is resolved once, when first asked for
    assert name(r.static["GET"]["/items/special"]) == "items.read"
    assert r.static["POST"]["/projects"] is None if "POST" in r.static else True
    assert name(r.static["HEAD"]["/projects"]) == "projects.list"
    assert "/items/{item}" not in r.static["GET"]


def test_catalog_keeps_the_apps_order_mounts_and_hosts() -> None:
    app = Starlette(
        routes=[
            Route("/health", ok, name="health"),
            Mount("/api", routes=[Route("/projects", ok, methods=["GET"], name="projects.list")]),
            Host("admin.example", Starlette(routes=[Route("/x", ok, name="admin.x")])),
        ]
    )
    catalog = catalog_from_app(app)
    assert [e.kind for e in catalog.routes] == ["http", "mount", "host"]
    assert catalog.routes[0].action is None
    assert catalog.module_names() == ["projects", "admin"]
    assert Catalog.from_json(catalog.to_json()) == catalog  # stored and read back whole


def test_a_shadowed_route_under_another_name_is_refused() -> None:
    with pytest.raises(CatalogError, match="never runs"):
        catalog_from_app([Route("/p/{id}", ok, name="p.a"), Route("/p/{pid}", ok, name="p.b")])


def test_uncompilable_catalogs_are_refused() -> None:
    modules = {"m": {"functionalities": {"f": {}}}}
    with pytest.raises(CatalogError, match="unknown convertor 'nope'"):
        Catalog.from_dict(
            {"modules": modules, "routes": [{"path": "/a/{x:nope}", "action": "m.f"}]}
        )
    with pytest.raises(CatalogError, match="not registered"):
        Router(
            Catalog.from_dict(
                {
                    "modules": modules,
                    "convertors": ["slug"],
                    "routes": [{"path": "/a/{x:slug}", "action": "m.f"}],
                }
            )
        )
    with pytest.raises(CatalogError, match="appears twice"):
        Catalog.from_dict({"modules": modules, "routes": [{"path": "/{a}/{a}", "action": "m.f"}]})


def test_file_catalog_routes_are_tried_in_the_order_written() -> None:
    catalog = Catalog.from_dict(
        {
            "modules": {"u": {"functionalities": {"me": {}, "read": {}}}},
            "routes": [
                {"path": "/users/me", "methods": ["GET"], "action": "u.me"},
                {"path": "/users/{id}", "methods": ["GET"], "action": "u.read"},
            ],
        }
    )
    r = Router(catalog)
    assert name(r.match("GET", "/users/me")) == "u.me"
    assert catalog.routes[1] == RouteEntry("http", "/users/{id}", "u.read", ("GET",))


def test_empty_router_matches_nothing() -> None:
    assert Router().match("GET", "/anything") is None
    assert Router(Catalog()).actions == ()


def test_head_for_get_as_the_catalog_says() -> None:
    """A file's ``GET`` route answers HEAD too (Starlette's rule), unless the catalog says
    ``head_for_get = false`` (FastAPI's APIRoute); a catalog derived from an app lists the
    methods its routes answer, and says so."""
    table = {
        "modules": {"items": {"functionalities": {"read": {}}}},
        "routes": [{"path": "/items", "methods": ["GET"], "action": "items.read"}],
    }
    assert name(Router(Catalog.from_dict(table)).match("HEAD", "/items")) == "items.read"
    exact = Catalog.from_dict({**table, "head_for_get": False})
    assert Router(exact).match("HEAD", "/items") is None
    assert name(Router(exact).match("GET", "/items")) == "items.read"
    assert Catalog.from_json(exact.to_json()) == exact
    with pytest.raises(CatalogError, match="head_for_get"):
        Catalog.from_dict({**table, "head_for_get": "no"})
    derived = catalog_from_app(Starlette(routes=[Route("/items", ok, name="items.read")]))
    assert derived.head_for_get is False
    assert name(Router(derived).match("HEAD", "/items")) == "items.read"  # Route lists HEAD


def test_a_trailing_slash_that_runs_nothing_is_decided_as_the_path_without_it() -> None:
    """``/a/`` under ``Mount("/a")`` is the mount's 404 (no redirect); a slash-stripping
    middleware inside the gateway then runs ``/a``: decided as that route."""
    sub = Starlette(routes=[Route("/x", ok, name="sub.x")])
    r = router_of(Mount("/a", app=sub), Route("/a", ok, name="a.read"))
    assert name(r.match("GET", "/a/")) == "a.read"
    assert name(r.match("GET", "/a//")) == "a.read"
    assert name(r.match("GET", "/a/x")) == "sub.x"
    assert r.match("GET", "/b/") is None  # no route either way: outside the catalog
