"""Derive the catalog from an app's routes: ``name="projects.create"`` names the action.

FastAPI's ``include_router`` branches are flattened into the routes FastAPI matches.
Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.convertors import CONVERTOR_TYPES
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute
from starlette.routing import Router as StarletteRouter

from policies.catalog.catalog import Catalog
from policies.catalog.routes import BUILTIN_CONVERTORS, RouteEntry
from policies.errors import CatalogError

_UNWRAP_DEPTH = 32


def catalog_from_app(app: Any) -> Catalog:
    """The catalog of ``app`` (a Starlette/FastAPI app, a ``Router``, or a list of routes).

    Raises :class:`policies.CatalogError` for a bad name, or a route that never runs
    because an earlier one under another name matches the same requests.
    """
    if isinstance(app, list | tuple):
        routes, redirect = list(app), True
    else:
        router = router_of(app)
        if router is None:
            raise CatalogError(f"{app!r} has no Starlette router to derive a catalog from")
        routes, redirect = router.routes, router.redirect_slashes
        if getattr(router, "_low_priority_routes", None):
            raise CatalogError(_FRONTEND)
    custom = frozenset(CONVERTOR_TYPES) - BUILTIN_CONVERTORS
    # Methods as the app lists them: a Starlette ``Route`` lists the HEAD it adds for GET,
    # a FastAPI ``APIRoute`` answers HEAD only when declared.
    return Catalog.from_routes(
        entries(routes),
        redirect_slashes=redirect,
        convertors=_used(routes, custom),
        head_for_get=False,
    )


def router_of(app: Any) -> StarletteRouter | None:
    """The Starlette router that routes ``app``'s requests: the app itself, its ``router``
    (Starlette, FastAPI), or found through the middlewares that wrap it (their ``app``)."""
    for layer in _layers(app):
        if isinstance(layer, StarletteRouter):
            return layer
        router = getattr(layer, "router", None)
        if isinstance(router, StarletteRouter):
            return router
    return None


def app_root_path(app: Any) -> str:
    """The root path ``app`` routes with whatever the server says: FastAPI's ``root_path``
    attribute (it overwrites the scope's), found through the middlewares wrapping it; ""."""
    for layer in _layers(app):
        declared = getattr(layer, "root_path", None)
        if isinstance(declared, str) and isinstance(
            getattr(layer, "router", None), StarletteRouter
        ):
            return declared.rstrip("/")
    return ""


def _layers(app: Any) -> Iterator[Any]:
    """``app`` and the apps it wraps (their ``app``), outermost first, at most 32 deep."""
    for _ in range(_UNWRAP_DEPTH):
        if app is None:
            return
        yield app
        app = getattr(app, "app", None)


def entries(routes: Iterable[BaseRoute]) -> Iterator[RouteEntry]:
    """The route table entries of ``routes``, in their order."""
    for route in _flat(routes):
        if _is_fastapi_route_context(route):  # an APIRoute under include_router's prefixes
            methods = tuple(sorted(route.methods)) if route.methods else None
            yield RouteEntry("http", route.path, _action(route.name), methods)
        elif isinstance(route, Route):
            methods = None if route.methods is None else tuple(sorted(route.methods))
            yield RouteEntry("http", route.path, _action(route.name), methods)
        elif isinstance(route, WebSocketRoute):
            yield RouteEntry("websocket", route.path, _action(route.name))
        elif isinstance(route, Mount | Host):
            router = router_of(route.app)
            sub = None if router is None else tuple(entries(router.routes))
            redirect = True if router is None else router.redirect_slashes
            action = _action(route.name) if sub is None else None
            if isinstance(route, Mount):
                yield RouteEntry("mount", route.path, action, None, sub, redirect)
            else:
                yield RouteEntry("host", route.host, action, None, sub, redirect)
        else:
            raise CatalogError(
                f"route {route!r} is not a Starlette Route, WebSocketRoute, Mount or Host: "
                "the gateway cannot tell which requests it takes; declare the catalog in a file"
            )


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """``routes`` with each FastAPI ``_IncludedRouter`` replaced by the routes it matches, in
    the order FastAPI tries them (recursively: nested includes carry their joined prefixes)."""
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if candidates is None or not hasattr(route, "original_router"):
            yield route
            continue
        if getattr(route.original_router, "_low_priority_routes", None):
            raise CatalogError(_FRONTEND)
        for candidate in candidates():
            if hasattr(candidate, "effective_candidates"):
                yield from _flat([candidate])
            elif getattr(candidate, "starlette_route", None) is not None:
                yield candidate.starlette_route
            else:
                yield candidate


def _is_fastapi_route_context(route: Any) -> bool:
    return hasattr(route, "original_route") and isinstance(getattr(route, "path", None), str)


_FRONTEND = (
    "the app serves FastAPI frontend routes, which match after every other route: the gateway "
    "cannot derive their actions from the app; declare the catalog in a file"
)


def _action(name: str | None) -> str | None:
    return name if name and "." in name else None


def _used(routes: Iterable[BaseRoute], custom: frozenset[str]) -> frozenset[str]:
    """The custom convertors ``routes`` use (the store accepts only those named)."""
    if not custom:
        return frozenset()
    found: set[str] = set()
    for route in _flat(routes):
        for convertor in getattr(route, "param_convertors", {}).values():
            found.update(n for n in custom if CONVERTOR_TYPES[n] is convertor)
        if isinstance(route, Mount | Host):
            sub = router_of(route.app)
            if sub is not None:
                found |= _used(sub.routes, custom)
    return frozenset(found)
