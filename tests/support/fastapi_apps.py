"""Pieces of the FastAPI apps the routing tests build: endpoints with typed path
parameters that report which route ran, and the middlewares users put inside the gateway
(a method-override honouring one, a slash-stripping one)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, WebSocket
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Python types FastAPI validates path parameters with, by name.
TYPES: dict[str, type] = {"int": int, "str": str, "float": float, "uuid": uuid.UUID}
# Method-override spellings: the three headers, then the query argument.
OVERRIDE_HEADERS = (b"x-http-method-override", b"x-http-method", b"x-method-override")

Report = Callable[[str | None, Any], None]


def _signature(first: str, kind: type, params: Sequence[tuple[str, type]]) -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter(first, keyword, annotation=kind),
            *(inspect.Parameter(n, keyword, annotation=t) for n, t in params),
        ]
    )


def http_endpoint(report: Report, action: str | None, params: Sequence[tuple[str, type]]) -> Any:
    """A FastAPI endpoint taking ``params`` (name, type) from the path; reports ``action``."""

    async def endpoint(**values: Any) -> PlainTextResponse:
        report(action, values["request"].scope)
        return PlainTextResponse("ran")

    endpoint.__signature__ = _signature("request", Request, params)  # type: ignore[attr-defined]
    return endpoint


def websocket_endpoint(
    report: Report, action: str | None, params: Sequence[tuple[str, type]]
) -> Any:
    async def endpoint(**values: Any) -> None:
        websocket = values["websocket"]
        report(action, websocket.scope)
        await websocket.close()

    endpoint.__signature__ = _signature("websocket", WebSocket, params)  # type: ignore[attr-defined]
    return endpoint


def starlette_endpoint(report: Report, action: str | None) -> Any:
    async def endpoint(request: Any) -> PlainTextResponse:
        report(action, request.scope)
        return PlainTextResponse("ran")

    return endpoint


async def no_op() -> None:
    """A dependency that does nothing (async: no thread pool)."""


class MethodOverride:
    """Honours ``X-HTTP-Method-Override``, ``X-HTTP-Method``, ``X-Method-Override`` and
    ``?_method=`` on POST, as many frameworks' middlewares do."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            wanted = None
            for name, value in scope["headers"]:
                if name in OVERRIDE_HEADERS:
                    wanted = value.decode("latin-1")
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            wanted = query.get("_method", wanted)
            if wanted:
                scope = {**scope, "method": wanted.upper()}
        await self.app(scope, receive, send)


class StripSlashes:
    """Drops an HTTP request path's trailing slashes, a common way to avoid FastAPI's 307s.

    What the gateway can follow: the rewrite is the router's own slash redirect, taken in
    process. In an app with a route whose path ends in "/" (or a ``:path`` parameter, or a
    router that does not redirect) it takes a request to a route the router never would:
    no gateway in front can know that, so such a middleware must not sit inside it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path != "/" and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


def starlette_websocket(report: Report, action: str | None) -> Any:
    async def endpoint(websocket: Any) -> None:
        report(action, websocket.scope)
        await websocket.close()

    return endpoint
