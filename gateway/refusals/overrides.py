"""Requests that could run another method or come from two places: method overrides and
doubled ``Origin``/``Referer`` headers, read only when the request path saw a sign of them."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.types import Scope

from gateway.refusals.answers import Problems
from gateway.refusals.problems import Rendered

# The headers apps and middlewares honour to run another method than the request's own.
OVERRIDE_HEADERS = frozenset({b"x-http-method-override", b"x-http-method", b"x-method-override"})
_QUERY_FIELD = "_method"
_TOKEN = re.compile(r"[A-Za-z]{1,20}")


class Overrides:
    """Decides the method a suspect request is decided for, or the problem that refuses it.

    By default any override refuses the request (400 ``method_override``): an app or
    middleware that honours it would run another route than the one decided. With
    ``decide=True`` the request is decided for the overriding method instead (every override
    it carries must name the same one). Two ``Origin`` headers (or two ``Referer`` when no
    ``Origin`` decides) are 400 ``invalid_origin``: a browser never sends them.
    """

    def __init__(self, problems: Problems, *, decide: bool) -> None:
        self.problems = problems
        self.decide = decide

    def method(self, scope: Scope, method: str, has_origin: bool) -> str | Rendered:
        origins = referers = 0
        named: list[str] = []
        for name, value in scope["headers"]:
            if name == b"origin":
                origins += 1
            elif name == b"referer":
                referers += 1
            elif name in OVERRIDE_HEADERS:
                named.append(value.decode("latin-1").strip())
        if origins > 1 or (not has_origin and referers > 1):
            return self.problems.invalid_origin
        query = scope.get("query_string") or b""
        if query:
            fields = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            named += [value.strip() for key, value in fields if key == _QUERY_FIELD]
        if not named:
            return method
        if not self.decide:
            return self.problems.method_override
        wanted = {value.upper() for value in named}
        if len(wanted) != 1:
            return self.problems.method_override
        (override,) = wanted
        if _TOKEN.fullmatch(override) is None or scope["type"] != "http":
            return self.problems.method_override
        return override
