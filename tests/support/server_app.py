"""uvicorn factory for the multi-process tests: the test app behind the gateway.

Settings come from the environment (``KEYSTILE_REDIS_URL``, ``KEYSTILE_MASTER_KEYS``,
``KEYSTILE_DIGEST_SECRET``, and any ``KEYSTILE_GATEWAY_<OPTION>``, as in production); the
catalog is the store's. ``/_test/seen`` (exempt) waits,
inside this process, until the gateway has seen a workspace reach a version, and
``/_test/subscribed`` until its listener is subscribed: the test waits on the invalidation
itself rather than polling the API.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway import KeyGateMiddleware
from tests.support.apps import demo_routes, lifespan


def create_app() -> ASGIApp:
    async def seen(request: Request) -> JSONResponse:
        ok = await gate.invalidation.wait_version(
            request.query_params["workspace"],
            int(request.query_params["version"]),
            float(request.query_params.get("timeout", "10")),
        )
        return JSONResponse({"seen": ok, "pid": os.getpid()})

    async def subscribed(request: Request) -> JSONResponse:
        timeout = float(request.query_params.get("timeout", "10"))
        ok = await gate.invalidation.wait_subscribed(timeout)
        return JSONResponse({"subscribed": ok, "subscriptions": gate.invalidation.subscriptions})

    routes = [*demo_routes(), Route("/_test/seen", seen), Route("/_test/subscribed", subscribed)]
    app = Starlette(routes=routes, lifespan=lifespan)
    gate = KeyGateMiddleware.from_settings(app, exempt_paths=["/health", "/_test/*"])
    return gate
