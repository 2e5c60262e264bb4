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

from policies.catalog.catalog import Catalog
from policies.catalog.routes import PARAM, RouteEntry
from policies.errors import CatalogError


class Action:
    """A (module, functionality) pair, interned per router; ``name`` is ``module.functionality``."""

    __slots__ = ("functionality", "module", "name")

    def __init__(self, module: str, functionality: str) -> None:
        self.module = module
        self.functionality = functionality
        self.name = f"{module}.{functionality}" if module else ""

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

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog = Catalog() if catalog is None else catalog
        unknown = catalog.convertors - CONVERTOR_TYPES.keys()
        if unknown:
            raise CatalogError(
                f"the catalog's path convertor(s) {sorted(unknown)} are not registered in this "
                "process (starlette.convertors.register_url_convertor)"
            )
        self._actions: dict[str, Action] = {}
        try:
            routes = [self._compile(entry) for entry in catalog.routes]
        except (AssertionError, ValueError) as exc:  # what Starlette's compile_path raises
            raise CatalogError(f"the catalog's routes do not compile: {exc}") from None
        self._router = StarletteRouter(routes, redirect_slashes=catalog.redirect_slashes)
        self.by_host = any(entry.kind == "host" for _, entry in catalog.entries())
        self.actions = tuple(self._actions.values())
        # method -> path -> answer: the static paths, for the request path to probe inline.
        self.static: dict[str, dict[str, Action | None]] = {}
        self._memo: dict[str, dict[str, Action | None]] = {}
        self._memo_size = 0
        if not self.by_host:
            self._resolve_static_paths(catalog)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Router:
        return cls(catalog)

    def _compile(self, entry: RouteEntry) -> BaseRoute:
        action = None
        if entry.action is not None:
            module, _, functionality = entry.action.partition(".")
            action = self._actions.setdefault(entry.action, Action(module, functionality))
        endpoint = _Endpoint(action)
        if entry.kind == "http":
            methods = None if entry.methods is None else list(entry.methods)
            return Route(entry.path, endpoint, methods=methods)
        if entry.kind == "websocket":
            return WebSocketRoute(entry.path, endpoint)
        app: Any = endpoint
        if entry.routes is not None:
            sub = [self._compile(child) for child in entry.routes]
            app = StarletteRouter(sub, redirect_slashes=entry.redirect_slashes)
        if entry.kind == "mount":
            return Mount(entry.path, app=app)
        return Host(entry.path, app=app)

    def _resolve_static_paths(self, catalog: Catalog) -> None:
        methods = {"HEAD", "OPTIONS", "WEBSOCKET"}
        paths = set()
        for path, entry in catalog.entries():
            methods.update(entry.methods or ())
            if entry.kind in ("http", "websocket") and PARAM.search(path) is None:
                paths.add(path)
        for method in methods:
            self.static[method] = {path: self.resolve(method, path) for path in paths}

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
        answer = self._route(method, path, root_path, host)
        if answer is REDIRECT and path != "/":
            # A slash redirect is decided as where it leads: a middleware that rewrites the
            # path instead of redirecting (or a client that follows) runs that route.
            target = path.rstrip("/") if path.endswith("/") else path + "/"
            answer = self._route(method, target, root_path, host)
            if answer is None:  # that path runs no endpoint either (405, say)
                answer = REDIRECT
        if self._memo_size >= _MEMO_SIZE:
            # A flood of distinct paths costs a routing run each, nothing more.
            self._memo.clear()
            self._memo_size = 0
        self._memo.setdefault(method, {})[key] = answer
        self._memo_size += 1
        return answer

    def _route(self, method: str, path: str, root_path: str, host: bytes | None) -> Action | None:
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
            _complete(self._router.app(scope, _receive, answer))
        except Exception:  # a convertor that raises: the app fails too, no endpoint runs
            return None
        ran: _Endpoint | None = scope.get(_RAN)
        if ran is not None:
            return ran.action
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
