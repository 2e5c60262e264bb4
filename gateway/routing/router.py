"""Request to action, decided by Starlette's own router over the catalog's route table.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable
from typing import Any

from starlette.convertors import CONVERTOR_TYPES
from starlette.routing import BaseRoute, Host, Mount, Route, WebSocketRoute
from starlette.routing import Router as StarletteRouter
from starlette.types import Message, Receive, Scope, Send

from gateway.routing.segment_index import SegmentIndex
from policies.catalog.catalog import Catalog
from policies.catalog.routes import PARAM, RouteEntry
from policies.errors import CatalogError
from policies.restrictions import grants


class Action:
    """A (module, functionality) pair, interned per router; ``name`` is ``module.functionality``;
    ``grants``: the allow-listed scopes any one of which allows it (policies.restrictions)."""

    __slots__ = ("functionality", "grants", "module", "name")

    def __init__(self, module: str, functionality: str, writes: bool = True) -> None:
        self.module = module
        self.functionality = functionality
        self.name = f"{module}.{functionality}" if module else ""
        self.grants = grants(module, functionality, writes) if module else ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Action) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Action({self.module!r}, {self.functionality!r})"


# The app answers with a redirect only: no endpoint runs, no rule can apply.
REDIRECT = Action("", "")
_MEMO_SIZE = 4096
_RAN = "keystile.ran"


class _Endpoint:
    """A compiled route's endpoint (an ASGI app, so Starlette calls it as it is)."""

    __slots__ = ("action",)

    def __init__(self, action: Action | None) -> None:
        self.action = action

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_RAN] = self


async def _receive() -> Message:  # pragma: no cover - routing never reads the body
    raise RuntimeError("routing does not read the request")


class _Answer:
    """The ``send`` of a routing run: keeps the status of what the router answered itself."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]


class Router:
    """Resolve a request to the catalog's :class:`Action` (see the module's docstring)."""

    def __init__(self, catalog: Catalog | None = None, *, compile_now: bool = True) -> None:
        """``compile_now=False``: each route is compiled when a request first needs it (the
        catalog's checks already refuse every template Starlette would not compile)."""
        self.catalog = catalog = Catalog() if catalog is None else catalog
        unknown = catalog.convertors - CONVERTOR_TYPES.keys()
        if unknown:
            raise CatalogError(
                f"the catalog's path convertor(s) {sorted(unknown)} are not registered in this "
                "process (starlette.convertors.register_url_convertor)"
            )
        self._actions: dict[str, Action] = {}  # interned as routes are compiled
        # The catalog's action names in route order (a tuple of strings: nothing for the
        # cycle collector to scan, unlike an Action each).
        self.action_names = tuple(
            dict.fromkeys(e.action for _, e in catalog.entries() if e.action is not None)
        )
        self._write_actions = catalog.write_actions()  # a read scope leaves them out
        self._head_for_get = catalog.head_for_get
        self._index = SegmentIndex(
            catalog.routes, self._compile, redirect_slashes=catalog.redirect_slashes
        )
        if compile_now:
            try:
                self._index.compile_all()
            except (AssertionError, ValueError) as exc:  # what Starlette's compile_path raises
                raise CatalogError(f"the catalog's routes do not compile: {exc}") from None
        self.by_host = any(entry.kind == "host" for _, entry in catalog.entries())
        # method -> path -> answer: the static paths' answers, for the request path to probe
        # inline; filled as they are first asked for, never evicted (the catalog bounds it).
        self.static: dict[str, dict[str, Action | None]] = {}
        self._static_paths: frozenset[str] = frozenset()
        self._memo: dict[str, dict[str, Action | None]] = {}
        self._memo_size = 0
        if not self.by_host:
            self._static_paths = self._find_static_paths(catalog)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Router:
        return cls(catalog)

    @property
    def actions(self) -> tuple[Action, ...]:
        """The catalog's actions, interned, in its route order."""
        return tuple(self._action(name) for name in self.action_names)

    def _action(self, name: str) -> Action:
        action = self._actions.get(name)
        if action is None:
            module, _, functionality = name.partition(".")
            writes = name in self._write_actions
            action = self._actions[name] = Action(module, functionality, writes)
        return action

    def _compile(self, entry: RouteEntry) -> BaseRoute:
        endpoint = _Endpoint(None if entry.action is None else self._action(entry.action))
        if entry.kind == "http":
            methods = None if entry.methods is None else list(entry.methods)
            route = Route(entry.path, endpoint, methods=methods)
            if methods is not None and not self._head_for_get:
                route.methods = set(methods)  # no HEAD for GET unless listed
            return route
        if entry.kind == "websocket":
            return WebSocketRoute(entry.path, endpoint)
        app: Any = endpoint
        if entry.routes is not None:
            sub = [self._compile(child) for child in entry.routes]
            app = StarletteRouter(sub, redirect_slashes=entry.redirect_slashes)
        if entry.kind == "mount":
            return Mount(entry.path, app=app)
        return Host(entry.path, app=app)

    def _find_static_paths(self, catalog: Catalog) -> frozenset[str]:
        methods = {"HEAD", "OPTIONS", "WEBSOCKET"}
        paths = set()
        for path, entry in catalog.entries():
            methods.update(entry.methods or ())
            if entry.kind in ("http", "websocket") and PARAM.search(path) is None:
                paths.add(path)
        for method in methods:
            self.static[method] = {}
        return frozenset(paths)

    # -- resolving -------------------------------------------------------------------------
    def match(self, method: str, path: str) -> Action | None:
        """The answer for ``method`` (or ``"WEBSOCKET"``) on ``path``, no root path or host."""
        static = self.static.get(method)
        if static is not None and path in static:
            return static[path]
        return self.resolve(method, path)

    def resolve(
        self, method: str, path: str, root_path: str = "", host: bytes | None = None
    ) -> Action | None:
        """The answer for a request; ``host`` (the ``Host`` header) matters when ``by_host``."""
        memo = self._memo.get(method)
        key = path if not root_path and host is None else f"{root_path}\0{path}\0{host!r}"
        if memo is not None and key in memo:
            return memo[key]
        found = self._route(method, path, root_path, host)
        if (found is REDIRECT or (found is None and path.endswith("/"))) and path != "/":
            found = self._toggled(found, method, path, root_path, host)
        answer = found.action if isinstance(found, _Endpoint) else found
        if not root_path and host is None and path in self._static_paths:
            static = self.static.get(method)
            if static is not None:
                static[path] = answer
                return answer
        if self._memo_size >= _MEMO_SIZE:
            # A flood of distinct paths costs a routing run each, nothing more.
            self._memo.clear()
            self._memo_size = 0
        self._memo.setdefault(method, {})[key] = answer
        self._memo_size += 1
        return answer

    def _toggled(
        self, found: Action | None, method: str, path: str, root_path: str, host: bytes | None
    ) -> _Endpoint | Action | None:
        """A path that runs no endpoint, decided as its trailing slash toggled: a slash
        redirect leads there, and a middleware that strips trailing slashes instead of
        redirecting runs that route (for ``/a/`` under a ``Mount("/a")`` that 404s, too)."""
        target = (path.rstrip("/") or "/") if path.endswith("/") else path + "/"
        toggled = self._route(method, target, root_path, host)
        # No endpoint there either (405, say): the redirect or the 404 it was.
        return toggled if isinstance(toggled, _Endpoint) else found

    def _route(
        self, method: str, path: str, root_path: str, host: bytes | None
    ) -> _Endpoint | Action | None:
        """The endpoint that runs, ``REDIRECT`` for a slash redirect, or ``None``: nothing."""
        scope: dict[str, Any] = {
            "type": "websocket" if method == "WEBSOCKET" else "http",
            "path": path,
            "root_path": root_path,
            "headers": [] if host is None else [(b"host", host)],
        }
        if method != "WEBSOCKET":
            scope["method"] = method
        answer = _Answer()
        try:
            _complete(self._index.router_for(scope).app(scope, _receive, answer))
        except Exception:  # a convertor that raises: the app fails too, no endpoint runs
            return None
        ran: _Endpoint | None = scope.get(_RAN)
        if ran is not None:
            return ran
        return REDIRECT if answer.status in (307, 308) else None

    def resolve_all(self, methods: Iterable[str], path: str) -> set[Action]:
        """The actions ``path`` reaches under any of ``methods`` (start-up checks)."""
        found = (self.resolve(m, path) for m in methods)
        return {a for a in found if a is not None and a is not REDIRECT}


def _complete(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends (routing to endpoints that only take note)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("Starlette's router suspended while routing")
