"""How each reverse proxy describes the request it asks about: its documented contract.

A proxy's check request is not the original request: it names it in headers, or carries it
on its own request line. A :class:`Dialect` reads that description back into the pieces of
an ASGI scope of the ORIGINAL request, which the gateway then decides as if the client had
called it directly.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from starlette.types import Scope

DialectName = Literal["nginx", "forwarded", "envoy"]
DIALECTS: tuple[DialectName, ...] = ("nginx", "forwarded", "envoy")
DEFAULT_HEADERS: dict[DialectName, tuple[str, str, str]] = {
    # (method, uri, host)
    "nginx": ("x-original-method", "x-original-uri", "x-original-host"),
    "forwarded": ("x-forwarded-method", "x-forwarded-uri", "x-forwarded-host"),
    "envoy": ("", "", ""),  # the check request's own method, path and Host
}

# RFC 9110 method token; a request line's target in origin form, printable ASCII.
_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}")
_TARGET = re.compile(rb"/[\x21-\x7e]*")


class Refusal(Exception):
    """The check request does not describe a request; ``str()`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Original:
    """The original request, as the pieces of its ASGI scope."""

    method: str
    path: str
    raw_path: bytes
    query_string: bytes
    host: bytes | None  # None: keep the check request's own Host header


class Dialect:
    """Reads one proxy's description of the original request (see the module's table)."""

    def __init__(
        self,
        name: DialectName,
        *,
        method_header: str,
        uri_header: str,
        host_header: str,
        path_prefix: str = "",
    ) -> None:
        self.name = name
        self.method_header = method_header.encode()
        self.uri_header = uri_header.encode()
        self.host_header = host_header.encode()
        self.path_prefix = path_prefix.encode()
        # The headers that describe the check itself: not the original request's.
        self.own_headers = frozenset(
            h for h in (self.method_header, self.uri_header, self.host_header) if h
        )

    def original(self, scope: Scope) -> Original:
        if self.name == "envoy":
            return self._envoy(scope)
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in self.own_headers:
                if name in found:
                    raise Refusal(f"{name.decode()} appears more than once")
                found[name] = value
        method = found.get(self.method_header)
        target = found.get(self.uri_header)
        if method is None or target is None:
            missing = self.method_header if method is None else self.uri_header
            raise Refusal(f"the check request has no {missing.decode()} header")
        raw_path, _, query = target.partition(b"?")
        return Original(
            _method(method), _path(raw_path), raw_path, query, found.get(self.host_header)
        )

    def _envoy(self, scope: Scope) -> Original:
        # raw_path: the request line as sent (uvicorn's "path" is already decoded).
        raw = scope.get("raw_path") or scope["path"].encode()
        prefix = self.path_prefix
        if not raw.startswith(prefix) or not raw[len(prefix) :].startswith(b"/"):
            raise Refusal(f"the check request's path is not under {prefix.decode()!r}")
        raw_path = raw[len(prefix) :]
        return Original(
            _method(scope.get("method", "GET").encode()),  # a handshake has none: GET
            _path(raw_path),
            raw_path,
            scope.get("query_string", b""),
            None,
        )


def _method(value: bytes) -> str:
    if _METHOD.fullmatch(value) is None:
        raise Refusal("the original method is not an HTTP method token")
    return value.decode("ascii")  # case kept: methods are case-sensitive (RFC 9110)


def _path(raw_path: bytes) -> str:
    """``raw_path`` decoded as uvicorn decodes a request target."""
    if _TARGET.fullmatch(raw_path) is None:
        raise Refusal("the original URI must be a path ('/...') of printable ASCII")
    path = raw_path.decode("ascii")
    return unquote(path) if "%" in path else path
