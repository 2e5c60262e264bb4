"""Derive the catalog from an app's named routes: ``name="projects.create"``.

Works for Starlette and FastAPI apps (and anything whose routes are Starlette routes):
``Route``/``APIRoute`` give their methods (``HEAD`` dropped: the gateway maps it to
``GET``), ``WebSocketRoute`` gives ``WEBSOCKET``, ``Mount`` prefixes its sub-routes, ``Host``
contributes its routes whatever the host. Routes whose name has no dot (``"health"``, or a
FastAPI route named after its function) are not part of any module and stay out of the
catalog. For other frameworks (Litestar, ...) declare the catalog in a file instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute

from policies.catalog import Catalog

_ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")


def catalog_from_app(app: Any) -> Catalog:
    """The catalog of ``app`` (an app with ``.routes``, or a list of routes).

    Raises :class:`policies.CatalogError` for a bad name or the same route under two names.
    """
    routes: Sequence[BaseRoute] = app if isinstance(app, list | tuple) else app.routes
    return Catalog.from_named_routes(named_routes(routes))


def named_routes(
    routes: Iterable[BaseRoute], prefix: str = ""
) -> Iterator[tuple[str, list[str], str]]:
    """``(name, methods, path)`` for every named route, sub-routes included."""
    for route in routes:
        if isinstance(route, Route):
            if route.name:
                # No methods: a class endpoint, which answers whatever it defines.
                yield route.name, sorted(route.methods or _ANY_METHOD), prefix + route.path
        elif isinstance(route, WebSocketRoute):
            if route.name:
                yield route.name, ["WEBSOCKET"], prefix + route.path
        elif isinstance(route, Mount):
            yield from named_routes(route.routes, prefix + route.path)
        elif isinstance(route, Host):
            yield from named_routes(route.routes, prefix)
