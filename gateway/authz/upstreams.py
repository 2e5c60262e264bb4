"""Upstream profiles: how the API behind the proxy routes a path, so the service decides the
route that API will run, or refuses the request (400 ``ambiguous_path``, naming why).

The catalog's own decision is Starlette's router over the path handed to the gateway. For
an upstream that is not Starlette, the profile's :mod:`~gateway.authz.matchers` say which
catalogued route that upstream runs for the request; the gateway is handed the first of a
few forms of the path (as the upstream matches it, its final ``/`` toggled, lower-cased) on
which the catalog decides that same route, and the request is refused when there is none.
``strict`` asks every router here at once and refuses where two of them run different
routes, and refuses outright what routers not tested here read differently still.

Design notes: ``docs/architecture.md``; the profiles' table: the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.authz.matchers import NO_ROUTE, Matcher, Ran, matchers
from gateway.routing.router import Router
from policies.catalog.catalog import Catalog
from policies.errors import CatalogError

UpstreamName = Literal["strict", "starlette", "express", "flask", "django", "nginx"]
UPSTREAMS: tuple[UpstreamName, ...] = ("strict", "starlette", "express", "flask", "django", "nginx")
_MEMO_SIZE = 4096

# Decoded "//", "/./", "/../" (or a final "/." "/.."): merged or resolved by many routers.
_SEGMENTS = re.compile(r"//|/\.\.?(?:/|$)")
SEGMENTS = "the path holds an empty, '.' or '..' segment, which the API may resolve differently"
# What ``strict`` refuses before asking any router: read differently by routers not run here.
_STRICT_REFUSALS = (
    (
        re.compile(r"%2f", re.I),
        "the path holds an encoded '/' (%2F): some routers keep it inside one segment "
        "(Express, Go), others split the path there",
    ),
    (
        re.compile(r";"),
        "the path holds ';': some routers cut the segment there (Spring, Tomcat's "
        "';jsessionid='), others keep it",
    ),
    (
        re.compile(r"%25", re.I),
        "the path holds an encoded '%' (%25): an API that decodes twice reads another path",
    ),
)


class Ambiguous(Exception):
    """The request is refused: ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: UpstreamName
    routers: tuple[str, ...]  # the matchers asked (gateway.authz.matchers.MATCHERS)
    raw: bool = False  # the upstream matches the path as sent (escapes kept)
    strict: bool = False


PROFILES: dict[UpstreamName, Profile] = {
    "strict": Profile("strict", ("express", "flask", "django", "nginx"), strict=True),
    "starlette": Profile("starlette", ()),
    "express": Profile("express", ("express",), raw=True),
    "flask": Profile("flask", ("flask",)),
    "django": Profile("django", ("django",)),
    "nginx": Profile("nginx", ("nginx",)),
}


def check_catalog(name: UpstreamName, catalog: Catalog) -> None:
    """Refuse (``CatalogError``) a catalog this upstream cannot be decided for."""
    if name == "starlette":
        return
    if catalog.redirect_slashes or any(
        e.routes is not None and e.redirect_slashes for _, e in catalog.entries()
    ):
        raise CatalogError(
            f"redirect_slashes = true is Starlette's slash redirect, which the {name!r} "
            "upstream does not do: set redirect_slashes = false in the catalog file, or "
            "[authz] upstream = 'starlette' for a Starlette app"
        )
    dict(matchers(PROFILES[name].routers, catalog))  # compiles, or raises CatalogError


class Upstream:
    """One profile's decisions over the gateway's current router (see the module)."""

    def __init__(self, name: UpstreamName) -> None:
        self.profile = PROFILES[name]
        self._router: Router | None = None
        self._matchers: list[tuple[str, Matcher]] = []
        self._memo: dict[tuple[str, str], str | Ambiguous] = {}

    def path(self, router: Router | None, method: str, raw: str, decoded: str) -> str:
        """The path to hand the gateway for this request; :class:`Ambiguous` if none.
        ``router``: the gateway's (None only for ``starlette``, which needs none)."""
        if _SEGMENTS.search(decoded) is not None:
            raise Ambiguous(SEGMENTS)
        profile = self.profile
        if router is None or not profile.routers:
            return decoded
        if router is not self._router:
            self._matchers = list(matchers(profile.routers, router.catalog))
            self._router, self._memo = router, {}
        key = (method, raw)
        found = self._memo.get(key)
        if found is None:
            found = self._decide(router, method, raw, decoded)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        if isinstance(found, Ambiguous):
            raise found
        return found

    def _decide(self, router: Router, method: str, raw: str, decoded: str) -> str | Ambiguous:
        profile = self.profile
        if profile.strict:
            for pattern, why in _STRICT_REFUSALS:
                if pattern.search(raw) is not None:
                    return Ambiguous(why)
        ran: dict[str, Ran] = {name: m.run(method, raw, decoded) for name, m in self._matchers}
        running = {name: action for name, action in ran.items() if action is not NO_ROUTE}
        if len(set(running.values())) > 1:
            said = ", ".join(f"{name} runs {_label(a)}" for name, a in running.items())
            return Ambiguous(f"routers run different routes for this path ({said})")
        base = raw if profile.raw else decoded
        if not running:
            return base  # no catalogued route runs: the catalog's decision stands
        (wanted,) = set(running.values())
        for candidate in _forms(base):
            decided = router.match(method, candidate)
            if (None if decided is None else decided.name) == wanted:
                return candidate
        decided = router.match(method, base)
        return Ambiguous(
            f"the {profile.name} upstream runs {_label(wanted)} for this path, which the "
            f"catalog's order decides as {_label(None if decided is None else decided.name)}"
        )


def _forms(path: str) -> dict[str, None]:
    """The path, its final ``/`` toggled, lower-cased, both (in this order, no repeats)."""
    forms: dict[str, None] = {}
    for form in (path, path.lower()):
        forms[form] = None
        if form != "/":
            forms[form[:-1] if form.endswith("/") else form + "/"] = None
    return forms


def _label(action: str | Ambiguous | object) -> str:
    if action is None:
        return "a route outside the catalog"
    if action == "":
        return "no route (a redirect)"
    return f"{action}'s route"
