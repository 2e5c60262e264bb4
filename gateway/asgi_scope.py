"""What the request path reads from an ASGI scope besides the key: the route path, the
``Host`` header, a header's presence, the caller's origin (ASGI headers are lowercase
bytes)."""

from __future__ import annotations

from typing import Any

from policies.origins import normalize_origin


def route_path(path: str, root_path: str) -> str:
    """The path relative to the app's mount point (as starlette.routing matches it)."""
    if path == root_path:
        return "/"
    if path.startswith(root_path) and path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def host_header(headers: Any) -> bytes | None:
    for name, value in headers:
        if name == b"host":
            return bytes(value)
    return None


def has_header(headers: Any, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in headers)


def caller_origin(origin: bytes | None, referer: bytes | None) -> str | None:
    """The caller's origin, normalised: ``Origin``, else the origin of ``Referer`` (both
    found by the key's header scan)."""
    raw = origin if origin is not None else referer
    return None if raw is None else normalize_origin(raw.decode("latin-1"))
