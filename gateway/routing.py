"""Request to action: the catalog's routes, compiled once into a fast matcher.

Matching follows Starlette's router, so the gateway and the app agree on what a request is:

* templates use ``{param}`` and ``{param:convertor}`` (``str``, ``int``, ``float``, ``uuid``,
  ``path`` and any convertor registered with Starlette);
* the first declared route that matches wins;
* ``HEAD`` also matches ``GET`` routes (Starlette answers HEAD for every GET route);
* ``WEBSOCKET`` routes match WebSocket requests only, and WebSocket requests nothing else;
* a path that matches nothing is tried again with its trailing slash toggled, because the
  app will redirect ``/projects/`` to ``/projects`` (the redirect target is checked again).

Static paths cost one dict probe. The templated routes of a method are one alternation
regex whose named top-level groups say which route matched, so a request costs at most one
regex match, whatever the size of the catalog (and a dict probe when the path was seen
recently).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.convertors import CONVERTOR_TYPES

from policies.catalog import Catalog
from policies.errors import CatalogError

# Starlette's own parameter syntax (starlette.routing.PARAM_REGEX).
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:[a-zA-Z_][a-zA-Z0-9_]*)?}")


class Action:
    """A (module, functionality) pair, interned per router; ``name`` is ``module.functionality``."""

    __slots__ = ("functionality", "module", "name")

    def __init__(self, module: str, functionality: str) -> None:
        self.module = module
        self.functionality = functionality
        self.name = f"{module}.{functionality}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Action) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Action({self.module!r}, {self.functionality!r})"


_MEMO_SIZE = 4096


class _Table:
    """The routes of one method: static paths in a dict, templated ones in one regex.

    Templated answers are memoised per path (bounded; emptied when full): APIs see the same
    ``/projects/42`` again and again, and a dict probe is cheaper than a regex match.
    """

    __slots__ = ("groups", "memo", "regex", "static")

    def __init__(self, routes: list[tuple[str, Action]]) -> None:
        self.static: dict[str, Action] = {}
        self.groups: dict[str, Action] = {}
        templated: list[tuple[re.Pattern[str], Action]] = []
        alternatives: list[str] = []
        for path, action in routes:
            pattern = template_regex(path)
            if pattern is None:
                # A static path that an earlier template already covers belongs to that
                # template, as in Starlette's first-match order.
                earlier = next((a for rx, a in templated if rx.fullmatch(path)), action)
                self.static.setdefault(path, earlier)
                continue
            group = f"r{len(alternatives)}"
            self.groups[group] = action
            alternatives.append(f"(?P<{group}>{pattern})")
            templated.append((re.compile(pattern), action))
        self.regex = re.compile("|".join(alternatives)) if alternatives else None
        self.memo: dict[str, Action | None] = {}

    def find(self, path: str) -> Action | None:
        return self.static.get(path) or self.find_templated(path)

    def find_templated(self, path: str) -> Action | None:
        if self.regex is None:
            return None
        try:
            return self.memo[path]
        except KeyError:
            pass
        match = self.regex.fullmatch(path)
        action = None if match is None else self.groups[match.lastgroup]  # type: ignore[index]
        if len(self.memo) >= _MEMO_SIZE:
            self.memo.clear()  # a flood of distinct paths costs a regex each, nothing more
        self.memo[path] = action
        return action


def template_regex(path: str) -> str | None:
    """The regex of a path template, or None for a static path.

    Parameters become non-capturing groups so that one regex can hold many routes (names
    repeat across templates) and ``lastgroup`` names the route, not a parameter.
    """
    parts: list[str] = []
    position = 0
    for match in _PARAM.finditer(path):
        convertor_name = (match.group(2) or ":str")[1:]
        convertor = CONVERTOR_TYPES.get(convertor_name)
        if convertor is None:
            raise CatalogError(f"route path {path!r}: unknown convertor {convertor_name!r}")
        parts.append(re.escape(path[position : match.start()]))
        parts.append(f"(?:{convertor.regex})")
        position = match.end()
    if not parts:
        return None
    parts.append(re.escape(path[position:]))
    return "".join(parts)


class Router:
    """Resolve ``(method, path)`` to the catalog's :class:`Action`, or None (outside it)."""

    def __init__(self, routes: Iterable[tuple[str, str, str, str]] = ()) -> None:
        """``routes``: ``(method, path template, module, functionality)`` in declaration order."""
        actions: dict[str, Action] = {}
        by_method: dict[str, list[tuple[str, Action]]] = {}
        for method, path, module, functionality in routes:
            action = actions.setdefault(f"{module}.{functionality}", Action(module, functionality))
            by_method.setdefault(method.upper(), []).append((path, action))
        # HEAD: explicit HEAD routes first, then every GET route, in their order.
        if "GET" in by_method:
            by_method["HEAD"] = by_method.get("HEAD", []) + by_method["GET"]
        self._tables = {method: _Table(routes) for method, routes in by_method.items()}
        # method -> static path -> action: match's first step, for a caller to inline (two
        # dict probes instead of a Python call per request); on a miss, call match.
        self.static = {method: table.static for method, table in self._tables.items()}
        self.actions = tuple(actions.values())

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Router:
        return cls((r.method, r.path, m, f) for r, m, f in catalog.routes())

    def match(self, method: str, path: str) -> Action | None:
        table = self._tables.get(method)
        if table is None:
            return None
        action = table.static.get(path)  # the common case, without a call
        if action is None:
            action = table.find_templated(path)
        if action is None and len(path) > 1:
            action = table.find(path[:-1] if path.endswith("/") else path + "/")
        return action
