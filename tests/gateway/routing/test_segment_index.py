"""Routes by first segment: a request is routed past only the routes that can match it,
each compiled when first needed, with the answer a router over every route gives (the
routing differentials hold the two equal on random apps; these are the named cases)."""

from __future__ import annotations

import pytest

from gateway.routing.router import Router
from gateway.routing.segment_index import entry_segment, path_segment
from policies import Catalog, RouteEntry


def catalog_of(*routes: dict[str, object]) -> Catalog:
    actions = {str(r["action"]) for r in routes if "action" in r}
    modules: dict[str, dict[str, dict[str, object]]] = {}
    for action in sorted(actions):
        module, _, functionality = action.partition(".")
        modules.setdefault(module, {"functionalities": {}})["functionalities"][functionality] = {}
    return Catalog.from_dict({"modules": modules, "routes": list(routes)})


def compiled(router: Router) -> int:
    return sum(route is not None for route in router._index._compiled)


@pytest.mark.parametrize(
    ("entry", "segment"),
    [
        (RouteEntry("http", "/projects/{id}"), "projects"),
        (RouteEntry("http", "/"), ""),
        (RouteEntry("http", "/{tenant}/projects"), None),
        (RouteEntry("http", "/v{version}/x"), None),
        (RouteEntry("mount", "/api"), "api"),
        (RouteEntry("mount", "/api/"), "api"),
        (RouteEntry("mount", ""), None),
        (RouteEntry("host", "{sub}.example.com"), None),
        (RouteEntry("websocket", "/events"), "events"),
    ],
)
def test_the_segment_a_route_needs(entry: RouteEntry, segment: str | None) -> None:
    assert entry_segment(entry) == segment


def test_a_path_with_a_newline_is_routed_past_its_segments_routes_only() -> None:
    assert path_segment("/users\n") == "users"  # Python's "$" matches before a final newline
    assert path_segment("/\n") == ""
    assert path_segment("/users\n/7") == "users\n"  # no literal segment holds a newline
    assert path_segment("/users/7\n") == "users"
    assert path_segment("/users/7") == "users"
    assert path_segment("relative") is None


def test_no_request_compiles_more_than_its_segments_routes() -> None:
    """A caller's newline or relative path once made the gateway compile every route."""
    routes = [{"path": f"/r{i}", "methods": ["GET"], "action": f"m.f{i}"} for i in range(500)]
    routes.append({"path": "/{tenant}/x", "methods": ["GET"], "action": "m.any"})
    router = Router(catalog_of(*routes), compile_now=False)
    eager = Router(catalog_of(*routes))
    for path in ("/r7\n", "/r7\n/", "/r\n7", "/t\n/x", "/t/x\n", "r7", "*", "/\n"):
        assert router.match("GET", path) == eager.match("GET", path), path
    assert router.match("GET", "/r7\n").name == "m.f7"  # type: ignore[union-attr]
    assert compiled(router) == 2


def test_a_request_compiles_and_tries_only_the_routes_that_can_match() -> None:
    routes = [
        {"path": f"/r{i}/{{id}}", "methods": ["GET"], "action": f"m.f{i}"} for i in range(500)
    ]
    routes.append({"path": "/{tenant}/anything", "methods": ["GET"], "action": "m.any"})
    router = Router(catalog_of(*routes), compile_now=False)
    assert compiled(router) == 0
    assert router.match("GET", "/r7/x").name == "m.f7"  # type: ignore[union-attr]
    assert compiled(router) == 2  # its own route and the one that matches any first segment
    assert router.match("GET", "/t1/anything").name == "m.any"  # type: ignore[union-attr]
    assert router.match("GET", "/nowhere/x") is None
    assert compiled(router) == 2
    eager = Router(catalog_of(*routes))
    assert compiled(eager) == 501


def test_order_across_buckets_is_the_catalogs() -> None:
    """A route matching any first segment, declared first, wins over a literal one."""
    router = Router(
        catalog_of(
            {"path": "/{tenant}/items", "methods": ["GET"], "action": "t.items"},
            {"path": "/shop/items", "methods": ["GET"], "action": "shop.items"},
            {"path": "/shop/other", "methods": ["GET"], "action": "shop.other"},
        )
    )
    assert router.match("GET", "/shop/items").name == "t.items"  # type: ignore[union-attr]
    assert router.match("GET", "/shop/other").name == "shop.other"  # type: ignore[union-attr]


def test_the_root_path_is_removed_before_the_segment_is_read() -> None:
    router = Router(catalog_of({"path": "/billing", "methods": ["GET"], "action": "b.read"}))
    assert router.resolve("GET", "/api/billing", root_path="/api").name == "b.read"  # type: ignore[union-attr]
    assert router.resolve("GET", "/apibilling", root_path="/api") is None


def test_slash_redirects_stay_inside_the_segment() -> None:
    router = Router(catalog_of({"path": "/billing", "methods": ["GET"], "action": "b.read"}))
    assert router.match("GET", "/billing/").name == "b.read"  # type: ignore[union-attr]
