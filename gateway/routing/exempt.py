"""Exempt paths: requests that reach the app with no key at all.

``/health`` exempts that path alone; a final ``*`` exempts whole path segments below it:
``/docs*`` covers ``/docs`` and ``/docs/...`` but not ``/docsearch``; ``/static/*`` covers
``/static/...``; ``/*`` covers everything. Paths are compared as the app's router sees them
(relative to the ``root_path``).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import compile_path

from gateway.routing.router import Router
from policies.catalog.catalog import Catalog
from policies.catalog.routes import PARAM
from policies.errors import ConfigError


class ExemptConflict(ConfigError):
    """Exempt paths cover catalogued routes (and ``exempt_catalogued`` is not set)."""


def check(paths: Iterable[str], catalog: Catalog, router: Router) -> None:
    """Raise :class:`ExemptConflict` naming every catalogued route an exempt path covers."""
    found = conflicts(paths, catalog, router)
    if found:
        raise ExemptConflict(
            "exempt paths would let requests without a key run catalogued actions: "
            + "; ".join(found)
            + " (narrow exempt_paths, or set exempt_catalogued = true if that is meant)"
        )


_PROBE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WEBSOCKET")


def split(paths: Iterable[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """``(exact paths, prefixes)``: a path is exempt if it is one, or starts with one."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for path in paths:
        if not path.endswith("*"):
            exact.add(path)
            continue
        base = path[:-1]
        if base.endswith("/"):
            prefixes.append(base)
        else:
            exact.add(base)
            prefixes.append(base + "/")
    return frozenset(exact), tuple(prefixes)


def conflicts(paths: Iterable[str], catalog: Catalog, router: Router) -> list[str]:
    """What each exempt path would let through without a key: ``"/docs* covers GET /docs
    (docs.read)"`` lines, empty when no exempt path covers a catalogued route."""
    found = []
    for path in paths:
        if not path.endswith("*"):
            for action in sorted(router.resolve_all(_PROBE_METHODS, path), key=str):
                found.append(f"{path} covers {action.name}")
            continue
        base = path[:-1].rstrip("/")
        for full, entry in catalog.entries():
            template = full + "/{rest:path}" if entry.kind == "mount" else full
            if entry.action is not None and _may_match_under(template, base):
                found.append(f"{path} covers {entry.label()} ({entry.action})")
    return found


def _may_match_under(template: str, base: str) -> bool:
    """Whether some path equal to ``base`` or below it could match ``template``."""
    wanted = base.split("/")[1:] if base else []
    segments = template.split("/")[1:]
    for index, segment in enumerate(wanted):
        if index >= len(segments):
            return False
        pattern = segments[index]
        if ":path}" in pattern:
            return True  # a path parameter takes the rest, whatever it is
        if PARAM.search(pattern) is None:
            if pattern != segment:
                return False
        elif compile_path("/" + pattern)[0].match("/" + segment) is None:
            return False
    return True
