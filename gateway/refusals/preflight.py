"""CORS and the gateway: preflights without a key, and refusals a page can read.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from gateway.asgi_scope import host_header
from gateway.refusals.problems import Rendered
from gateway.routing.catalog_loader import CatalogLoader
from gateway.routing.router import REDIRECT

_UNWRAP_DEPTH = 32
_PROBLEM = "keystile.problem"


class _SendProblem:
    """The app of the CORS copy: sends the refusal the gateway put in the scope."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rendered: Rendered = scope[_PROBLEM]
        await rendered.send_http(send, head=scope["method"] == "HEAD")


class InnerCors:
    """A ``CORSMiddleware`` found between the gateway and the app."""

    def __init__(self, cors: CORSMiddleware) -> None:
        self._cors = cors

    @classmethod
    def find(cls, app: Any) -> InnerCors | None:
        """The CORS middleware inside ``app`` (through middlewares' ``app`` and a Starlette
        app's own middleware list), as a copy that answers with the gateway's refusals."""
        for _ in range(_UNWRAP_DEPTH):
            if isinstance(app, CORSMiddleware):
                clone = copy.copy(app)
                clone.app = _SendProblem()
                return cls(clone)
            for middleware in getattr(app, "user_middleware", ()):
                if isinstance(middleware.cls, type) and issubclass(middleware.cls, CORSMiddleware):
                    made = middleware.cls(_SendProblem(), *middleware.args, **middleware.kwargs)
                    return cls(made)
            app = getattr(app, "app", None)
            if app is None:
                return None
        return None

    async def refuse(self, scope: Scope, receive: Receive, send: Send, rendered: Rendered) -> None:
        """Send ``rendered`` with the CORS headers the app's own answers would get."""
        scope[_PROBLEM] = rendered
        await self._cors(scope, receive, send)


class Preflight:
    """Whether a key-less CORS preflight may reach the app."""

    def __init__(self, catalog: CatalogLoader, inner_cors: InnerCors | None) -> None:
        self.catalog = catalog
        self.inner_cors = inner_cors

    async def passes(self, headers: Any, path: str, root_path: str, has_origin: bool) -> bool:
        if self.inner_cors is not None and has_origin:
            return True  # the CORS middleware inside answers it: nothing else runs
        router = self.catalog.router
        if router is None:
            router, _ = await self.catalog.load_router()
            if router is None:
                return False
        host = host_header(headers) if router.by_host else None
        action = router.resolve("OPTIONS", path, root_path, host)
        return action is None or action is REDIRECT
