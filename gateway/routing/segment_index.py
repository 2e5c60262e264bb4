"""Routes by the first segment of their path, compiled when first needed: a request is
routed by Starlette's own router over only the routes that can match it, in their order.

A route whose template starts with a literal segment (``/projects/{id}``, a ``/api``
mount) can only match a path with that first segment; the others (a parameter there, an
empty mount, a host) are tried for every path. A path ``/a\n`` is routed with the routes of
``a`` (Python's ``$`` matches before a final newline); a first segment holding any other
newline, or a path not starting with ``/``, only with those tried for every path: no
request compiles more than its segment's routes. Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette._utils import get_route_path  # the path a Router matches (root path removed)
from starlette.routing import BaseRoute
from starlette.routing import Router as StarletteRouter
from starlette.types import Scope

from policies.catalog.routes import RouteEntry

_ROUTERS_KEPT = 256  # routers merged for a segment, kept (then merged again)


def entry_segment(entry: RouteEntry) -> str | None:
    """The literal first segment of every path ``entry`` matches, or None: any path."""
    if entry.kind == "host":
        return None
    path = entry.path.rstrip("/") if entry.kind == "mount" else entry.path
    if not path.startswith("/"):
        return None  # an empty mount matches every path
    segment = path[1:].split("/", 1)[0]
    if "{" in segment or (entry.kind == "mount" and segment == ""):
        return None
    return segment


def path_segment(path: str) -> str | None:
    """The literal first segment of the routes that may match ``path``, or None: only those
    that match any first segment may (a route's regex starts ``^/segment`` and ends ``$``)."""
    if not path.startswith("/"):
        return None
    segment = path[1:].split("/", 1)[0]
    if segment.endswith("\n") and len(segment) == len(path) - 1:
        return segment[:-1]  # "/a\n" matches "^/a$"
    return segment


class SegmentIndex:
    """Starlette routers per first segment, over routes compiled once, when first needed."""

    def __init__(
        self,
        entries: Sequence[RouteEntry],
        compile_route: Callable[[RouteEntry], BaseRoute],
        *,
        redirect_slashes: bool,
    ) -> None:
        self._entries = tuple(entries)
        self._compile_route = compile_route
        self._compiled: list[BaseRoute | None] = [None] * len(self._entries)
        self._redirect_slashes = redirect_slashes
        buckets: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for index, entry in enumerate(self._entries):
            segment = entry_segment(entry)
            if segment is None:
                anywhere.append(index)
            else:
                buckets.setdefault(segment, []).append(index)
        # An int, or a tuple of ints: nothing the cycle collector must scan past its first pass.
        self._buckets = {
            segment: indexes[0] if len(indexes) == 1 else tuple(indexes)
            for segment, indexes in buckets.items()
        }
        self._anywhere = tuple(anywhere)
        self._routers: dict[str | None, StarletteRouter] = {}

    def compile_all(self) -> None:
        """Compile every route now (the command line's checks)."""
        for index in range(len(self._entries)):
            self._route(index)

    def router_for(self, scope: Scope) -> StarletteRouter:
        """The router to route ``scope`` with: the same answer as one over every route."""
        segment = path_segment(get_route_path(scope))
        key = segment if segment in self._buckets else None
        router = self._routers.get(key)
        return self._router(key) if router is None else router

    def _router(self, key: str | None) -> StarletteRouter:
        if key is None:
            indexes: Sequence[int] = self._anywhere
        else:
            own = self._buckets[key]
            indexes = sorted(((own,) if isinstance(own, int) else own) + self._anywhere)
        router = StarletteRouter(
            [self._route(i) for i in indexes], redirect_slashes=self._redirect_slashes
        )
        if len(self._routers) >= _ROUTERS_KEPT:
            self._routers.clear()
        self._routers[key] = router
        return router

    def _route(self, index: int) -> BaseRoute:
        route = self._compiled[index]
        if route is None:
            route = self._compiled[index] = self._compile_route(self._entries[index])
        return route
