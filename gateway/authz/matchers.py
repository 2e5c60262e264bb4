"""The catalog's route table as each upstream router matches it: which catalogued route that
router runs for a request (:mod:`gateway.authz.upstreams` compares it with the catalog's own
decision).

A :class:`Matcher` answers with the route's action name (``None``: a route outside the
catalog) or :data:`NO_ROUTE` (that router runs no route of the table: 404, 405, a redirect).
Werkzeug's is Werkzeug's own ``Map``; the others are the routers' documented rules over
Starlette's template syntax. Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.convertors import CONVERTOR_TYPES
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.routing.exceptions import RoutingException

from policies.catalog.catalog import Catalog
from policies.catalog.routes import PARAM
from policies.errors import CatalogError


class NoRoute:
    """The router runs no route of the table."""

    def __repr__(self) -> str:
        return "NO_ROUTE"


NO_ROUTE = NoRoute()
Ran = str | None | NoRoute


@dataclass(frozen=True, slots=True)
class Entry:
    """A route of the flattened table: a mount's routes carry its prefix."""

    template: str
    methods: frozenset[str] | None  # None: any; {"WEBSOCKET"} for a WebSocket route
    action: str | None
    opaque: bool = False  # a mount without routes: everything under its prefix


def flatten(catalog: Catalog) -> list[Entry]:
    """The table in match order; hosts are refused (no router here matches on them)."""
    table: list[Entry] = []
    for full, entry in catalog.entries():
        if entry.kind == "host":
            raise CatalogError("host routes are matched by a Starlette upstream only")
        if entry.kind == "mount":
            if entry.routes is None:
                table.append(Entry(full.rstrip("/"), None, entry.action, opaque=True))
            continue
        methods = frozenset({"WEBSOCKET"}) if entry.kind == "websocket" else None
        if entry.methods is not None:
            methods = frozenset(entry.methods) | ({"HEAD"} if "GET" in entry.methods else set())
        table.append(Entry(full, methods, entry.action))
    return table


class Matcher(Protocol):
    def run(self, method: str, raw: str, decoded: str) -> Ran: ...


# Express matches the raw path, then decodes each parameter: an app's digits check sees
# "%37" as "7".
_RAW_INT = "(?:[0-9]|%3[0-9])+"


def _regex(template: str, path_regex: str, raw: bool = False) -> str:
    """``template`` as a regex: Starlette's convertor regexes, ``path`` as ``path_regex``."""
    out, last = [], 0
    for match in PARAM.finditer(template):
        out.append(re.escape(template[last : match.start()]))
        convertor = (match.group(2) or ":str")[1:]
        if convertor == "path":
            out.append(path_regex)
        elif raw and convertor == "int":
            out.append(_RAW_INT)
        else:
            out.append(CONVERTOR_TYPES[convertor].regex)
        last = match.end()
    out.append(re.escape(template[last:]))
    return "".join(out)


class Ordered:
    """First match in the table's order, on the decoded path, case-sensitive.

    ``fallthrough``: a route matched under another method lets later routes try (Express,
    Starlette); without it the first route matching the path decides alone (Django's
    ``urlpatterns``, nginx ``location``s: the view or location answers 405 itself).
    ``express``: Express 5's defaults instead: the raw path (escapes kept), any case, one
    final ``/`` optional (on the route and on the request alike).
    """

    def __init__(
        self, table: list[Entry], *, path_regex: str, fallthrough: bool, express: bool = False
    ) -> None:
        self.fallthrough = fallthrough
        self.express = express
        flags = re.IGNORECASE if express else 0
        self.routes: list[tuple[re.Pattern[str], Entry]] = []
        for entry in table:
            template = entry.template
            if express and len(template) > 1:
                template = template.removesuffix("/")
            body = _regex(template, path_regex, raw=express)
            tail = "(?:/.*)?" if entry.opaque else "/?" if express else ""
            self.routes.append((re.compile(f"{body}{tail}", flags), entry))

    def run(self, method: str, raw: str, decoded: str) -> Ran:
        path = raw if self.express else decoded
        for pattern, entry in self.routes:
            if pattern.fullmatch(path) is None:
                continue
            if entry.methods is None or method in entry.methods:
                if method == "WEBSOCKET" and entry.methods is None and not entry.opaque:
                    continue  # an HTTP route takes no WebSocket
                return entry.action
            if not self.fallthrough:
                return NO_ROUTE
        return NO_ROUTE


class Werkzeug:
    """Flask's router: Werkzeug's own ``Map`` (its rule order, strict slashes, redirects)."""

    def __init__(self, table: list[Entry]) -> None:
        converters: dict[str, type[BaseConverter]] = {}
        self.actions: list[str | None] = []
        rules = []
        for index, entry in enumerate(table):
            rule = PARAM.sub(lambda m: _werkzeug_param(m, converters), entry.template)
            websocket = entry.methods == frozenset({"WEBSOCKET"})
            if entry.opaque:
                rules.append(Rule(rule or "/", endpoint=index))
                rule += "/<path:_rest>"
            methods = None if entry.methods is None or websocket else sorted(entry.methods)
            rules.append(Rule(rule, endpoint=index, methods=methods, websocket=websocket))
            self.actions.append(entry.action)
        try:
            self.adapter = Map(rules, converters=converters).bind("upstream")
        except (ValueError, TypeError) as exc:
            raise CatalogError(f"the catalog's routes are no Werkzeug rules: {exc}") from None

    def run(self, method: str, raw: str, decoded: str) -> Ran:
        websocket = method == "WEBSOCKET"
        try:
            index, _ = self.adapter.match(
                decoded, "GET" if websocket else method, websocket=websocket
            )
        except (HTTPException, RoutingException):  # 404, 405, a redirect: no route runs
            return NO_ROUTE
        action: str | None = self.actions[index]
        return action


def _werkzeug_param(match: re.Match[str], converters: dict[str, type[BaseConverter]]) -> str:
    name, convertor = match.group(1), (match.group(2) or ":str")[1:]
    if convertor in ("str", "path", "int", "float", "uuid"):
        werkzeug = {"str": "string"}.get(convertor, convertor)
        return f"<{werkzeug}:{name}>"
    converters[convertor] = type(convertor, (BaseConverter,), _regex_of(convertor))
    return f"<{convertor}:{name}>"


def _regex_of(convertor: str) -> dict[str, Any]:
    return {"regex": CONVERTOR_TYPES[convertor].regex}


def matchers(names: tuple[str, ...], catalog: Catalog) -> Iterator[tuple[str, Matcher]]:
    """The matchers of these routers (names of :data:`MATCHERS`) over ``catalog``."""
    table = flatten(catalog)
    for name in names:
        yield name, MATCHERS[name](table)


MATCHERS: dict[str, Any] = {
    "express": lambda t: Ordered(t, path_regex=".+", fallthrough=True, express=True),
    "flask": Werkzeug,
    "django": lambda t: Ordered(t, path_regex=".+", fallthrough=False),
    "nginx": lambda t: Ordered(t, path_regex=".*", fallthrough=False),
}
