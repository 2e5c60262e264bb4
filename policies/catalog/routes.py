"""The catalog's route table: every route of the protected API, in the order the app tries them.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from policies.errors import CatalogError

Kind = Literal["http", "websocket", "mount", "host"]
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUILTIN_CONVERTORS = frozenset({"str", "path", "int", "float", "uuid"})
_KEYS = {"http": "path", "websocket": "websocket", "mount": "mount", "host": "host"}
# Starlette's parameter syntax (starlette.routing.PARAM_REGEX).
PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_][a-zA-Z0-9_]*)?}")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # what a read scope allows by default
_SHORT_METHODS = HTTP_METHODS | {"WEBSOCKET"}  # the "METHOD /path" short form
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]{0,31}")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")  # str.isspace's spaces, C0 and DEL
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One entry of the route table (see the module's docstring)."""

    kind: Kind
    path: str  # a path template; for ``host``, a host pattern
    action: str | None = None  # "module.functionality", or None: outside the catalog
    methods: tuple[str, ...] | None = None  # http: None means any method
    routes: tuple[RouteEntry, ...] | None = None  # mount/host: None means an opaque app
    redirect_slashes: bool = True  # mount/host with routes: its router's setting
    writes: bool | None = None  # for read scopes; None: by its methods (GET/HEAD/OPTIONS read)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, RouteEntry]]:
        """``(full path, entry)`` for this entry and every entry below it."""
        full = prefix if self.kind == "host" else prefix + self.path
        yield full, self
        for child in self.routes or ():
            yield from child.walk(full)

    def label(self, prefix: str = "") -> str:
        if self.kind == "http":
            return f"{'|'.join(self.methods or ('*',))} {prefix}{self.path}"
        return f"{self.kind.upper()} {prefix}{self.path}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {_KEYS[self.kind]: self.path}
        if self.methods is not None:
            data["methods"] = list(self.methods)
        if self.action is not None:
            data["action"] = self.action
        if self.routes is not None:
            data["routes"] = [r.to_dict() for r in self.routes]
            data["redirect_slashes"] = self.redirect_slashes
        if self.writes is not None:
            data["writes"] = self.writes
        return data

    def writing(self) -> bool:
        """Whether a read scope leaves it out: its ``writes`` mark, else by its methods (a
        WebSocket, any method or an opaque app writes)."""
        if self.writes is not None:
            return self.writes
        if self.kind == "http" and self.methods is not None:
            return not READ_METHODS.issuperset(self.methods)
        return True

    @classmethod
    def from_dict(cls, data: Any, depth: int = 0, *, redirect_default: bool = True) -> RouteEntry:
        if not isinstance(data, Mapping):
            raise CatalogError(f"route entry {data!r} must be a table")
        kinds = [k for k, key in _KEYS.items() if key in data]
        if len(kinds) != 1:
            raise CatalogError(
                f"route entry {dict(data)!r} needs exactly one of 'path', 'websocket', "
                "'mount', 'host'"
            )
        kind: Kind = kinds[0]  # type: ignore[assignment]
        fields = {_KEYS[kind], "methods", "action", "routes", "redirect_slashes", "writes"}
        unknown = set(data) - fields
        if unknown:
            raise CatalogError(f"route entry {dict(data)!r}: unknown field(s) {sorted(unknown)}")
        methods = data.get("methods")
        if methods is not None:
            if kind != "http" or not isinstance(methods, list) or not methods:
                raise CatalogError(f"route entry {dict(data)!r}: 'methods' is a non-empty list")
            methods = _shared(tuple(sorted({_method(m) for m in methods})))
        routes = data.get("routes")
        if routes is not None:
            if kind not in ("mount", "host") or not isinstance(routes, list):
                raise CatalogError(f"route entry {dict(data)!r}: 'routes' is a list (mount/host)")
            if depth >= _MAX_DEPTH:
                raise CatalogError(f"routes nest deeper than {_MAX_DEPTH} mounts/hosts")
            routes = tuple(
                cls.from_dict(r, depth + 1, redirect_default=redirect_default) for r in routes
            )
        # Only a mount's or host's own router redirects; other entries keep the field's default.
        redirect = data.get("redirect_slashes", redirect_default if routes is not None else True)
        if not isinstance(redirect, bool):
            raise CatalogError(f"route entry {dict(data)!r}: 'redirect_slashes' is true or false")
        action = data.get("action")
        if action is not None and not isinstance(action, str):
            raise CatalogError(f"route entry {dict(data)!r}: 'action' is 'module.functionality'")
        path = data[_KEYS[kind]]
        if not isinstance(path, str):
            raise CatalogError(f"route entry {dict(data)!r}: the path must be a string")
        writes = data.get("writes")
        if writes is not None and not isinstance(writes, bool):
            raise CatalogError(f"route entry {dict(data)!r}: 'writes' is true or false")
        return cls(kind, path, action, methods, routes, redirect, writes)


def parse_route(text: str, action: str | None = None) -> RouteEntry:
    """``"POST /projects"`` (or ``"WEBSOCKET /events"``) as a route entry."""
    method, _, path = str(text).strip().partition(" ")
    method, path = method.upper(), path.strip()
    if method not in _SHORT_METHODS:
        raise CatalogError(f"route {text!r}: method must be one of {sorted(_SHORT_METHODS)}")
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise CatalogError(f"route {text!r}: path must start with '/' and have no spaces")
    if method == "WEBSOCKET":
        return RouteEntry("websocket", path, action)
    return RouteEntry("http", path, action, _shared((method,)))


@functools.lru_cache(maxsize=256)
def _shared(methods: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple for every route listing the same methods (20,000 routes: a handful)."""
    return methods


def _method(value: Any) -> str:
    if not isinstance(value, str) or _METHOD.fullmatch(value.upper()) is None:
        raise CatalogError(f"method {value!r} is not an HTTP method name")
    return value.upper()


def check_template(entry: RouteEntry, convertors: frozenset[str]) -> None:
    """Refuse a template Starlette would not compile (or would compile to something else)."""
    path = entry.path
    if entry.kind == "host":
        if not path or path.startswith("/"):
            raise CatalogError(f"host pattern {path!r} must be a host name, not a path")
    elif not (path.startswith("/") or (entry.kind == "mount" and path == "")):
        raise CatalogError(f"route path {path!r} must start with '/'")
    if _SPACE_OR_CONTROL.search(path) is not None:
        raise CatalogError(f"route path {path!r} has a space or a control character")
    _refuse_backtracking(entry)
    names: set[str] = set()
    for match in PARAM.finditer(path):
        name, convertor = match.group(1), (match.group(2) or ":str")[1:]
        if convertor not in convertors:
            raise CatalogError(
                f"route path {path!r}: unknown convertor {convertor!r} (built in: "
                f"{', '.join(sorted(BUILTIN_CONVERTORS))}; name custom ones in 'convertors')"
            )
        if name in names:
            raise CatalogError(f"route path {path!r}: parameter {name!r} appears twice")
        names.add(name)


def _refuse_backtracking(entry: RouteEntry) -> None:
    """Refuse a template whose regex backtracks: two parameters in one segment (or host),
    or two ``:path`` parameters (or one in a mount's prefix, which adds its own). Matching
    those costs a power of the path's length, which a caller chooses; every other
    template matches in linear time."""
    path = entry.path
    for segment in path.split("/"):
        if len(PARAM.findall(segment)) > 1:
            raise CatalogError(
                f"route path {path!r}: two parameters in one segment ({segment!r}) make "
                "matching cost grow with a power of the segment's length, which a caller "
                "chooses; keep one parameter per segment (split the value in the app)"
            )
    catch_alls = sum(1 for m in PARAM.finditer(path) if m.group(2) == ":path")
    if catch_alls > 1 or (catch_alls and entry.kind == "mount"):
        raise CatalogError(
            f"route path {path!r}: more than one ':path' parameter (a mount adds its own) "
            "makes matching cost grow with a power of the path's length; keep one"
        )


def shape(path: str) -> str:
    """The template with parameter names dropped: ``/p/{id}`` and ``/p/{pid}`` are one route."""
    return PARAM.sub(lambda m: "{" + (m.group(2) or ":str") + "}", path)


def refuse_shadowed(entries: Iterable[RouteEntry]) -> None:
    """Two routes of one router that match the same requests under different actions: the
    second never runs, so a rule on its action would be inert. (The same action twice is
    harmless and common: one handler for several paths.)"""
    seen: dict[tuple[str, str, str], RouteEntry] = {}
    for entry in entries:
        if entry.routes is not None:
            refuse_shadowed(entry.routes)
        if entry.kind not in ("http", "websocket"):
            continue
        for method in entry.methods or ("*",):
            key = (entry.kind, method, shape(entry.path))
            first = seen.setdefault(key, entry)
            if first.action != entry.action:
                raise CatalogError(
                    f"route {entry.label()} ({entry.action or 'outside the catalog'}) never "
                    f"runs: {first.label()} ({first.action or 'outside the catalog'}) "
                    "matches the same requests first"
                )
