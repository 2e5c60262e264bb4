"""The app under test and its three variants, in-process and as uvicorn factories.

* ``bare``: a minimal Starlette app, ``GET /projects`` (``projects.list``) answering ``ok``;
* ``gateway``: the same app behind :class:`gateway.KeyGateMiddleware`;
* ``naive``: the same app behind :class:`NaiveKeyMiddleware`, the ``BaseHTTPMiddleware``
  most projects start with: one ``HGET`` of the key's record (by its HMAC digest) per
  request. It is deliberately generous to itself: one round trip, no rule check.

Each variant wraps the Starlette app from the outside. The uvicorn factories read the
settings from ``KEYSTILE_*`` variables (see :meth:`policies.Settings.load`),
``BENCH_CHECK_INTERVAL`` and ``BENCH_GATEWAY_OPTIONS`` (JSON: more middleware options);
``GET /ready`` answers 200 once the variant can serve (for the gateway: subscribed to
invalidations) with ``subscribed`` (and the gateway's ``check_interval``) in the body.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis.asyncio
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway import KeyGateMiddleware, catalog_from_app
from policies import Catalog, Keyring, Settings
from policies.storage import schema
from policies.storage.connections import async_client

PATH = "/projects"
READY = "/ready"
VARIANTS = ("bare", "gateway", "naive")


async def projects(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def billing(request: Request) -> PlainTextResponse:
    return PlainTextResponse("billing")


def minimal_app(ready: Any = None) -> Starlette:
    """The app every variant serves; ``billing.read`` exists so that a rule can block it."""
    routes = [
        Route(PATH, projects, methods=["GET"], name="projects.list"),
        Route("/billing", billing, methods=["GET"], name="billing.read"),
    ]
    if ready is not None:
        routes.append(Route(READY, ready, methods=["GET"]))
    app = Starlette(routes=routes)
    # No slash redirects: the same catalog serves case 8's `keystile authz` in front of a
    # non-Starlette upstream, under its default `strict` profile (which refuses redirects).
    app.router.redirect_slashes = False
    return app


def bench_catalog() -> Catalog:
    return catalog_from_app(minimal_app())


class NaiveKeyMiddleware(BaseHTTPMiddleware):
    """Looks the key up in Redis on every request: the approach the gateway replaces."""

    def __init__(self, app: ASGIApp, client: redis.asyncio.Redis, keyring: Keyring) -> None:
        super().__init__(app)
        self.client = client
        self.keyring = keyring

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path == READY:
            return await call_next(request)
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or len(key) < 15:
            return JSONResponse({"detail": "missing or invalid key"}, status_code=401)
        workspace_id = "ws_" + key[3:15]
        record = await self.client.hget(schema.credentials(workspace_id), self.keyring.digest(key))
        if record is None:
            return JSONResponse({"detail": "invalid key"}, status_code=401)
        fields = json.loads(record)
        request.state.workspace_id = workspace_id
        request.state.key_id = fields["kid"]
        return await call_next(request)


def gateway_app(
    settings: Settings, catalog: Catalog, **options: Any
) -> tuple[KeyGateMiddleware, ASGIApp]:
    """The gateway before the minimal app; ``/ready`` is exempt and reports subscription."""
    holder: list[KeyGateMiddleware] = []

    async def ready(request: Request) -> JSONResponse:
        subscribed = bool(holder) and holder[0].invalidation.subscribed
        body = {"subscribed": subscribed, "check_interval": holder[0].config.check_interval}
        return JSONResponse(body, status_code=200 if subscribed else 503)

    options = {"registry": CollectorRegistry(), "exempt_paths": [READY], **options}
    gate = KeyGateMiddleware(minimal_app(ready), settings=settings, catalog=catalog, **options)
    holder.append(gate)
    return gate, gate


def naive_app(settings: Settings) -> ASGIApp:
    client = async_client(settings.redis_url)
    return NaiveKeyMiddleware(minimal_app(_ok), client, settings.keyring())


async def _ok(request: Request) -> JSONResponse:
    return JSONResponse({"subscribed": None})


# -- uvicorn factories (``uvicorn --factory bench.apps:bare``) ------------------------------
def bare() -> ASGIApp:
    return minimal_app(_ok)


def gateway() -> ASGIApp:
    options = json.loads(os.environ.get("BENCH_GATEWAY_OPTIONS") or "{}")
    if os.environ.get("BENCH_CHECK_INTERVAL"):  # else the gateway's own default
        options.setdefault("check_interval", float(os.environ["BENCH_CHECK_INTERVAL"]))
    return gateway_app(Settings.load(), bench_catalog(), **options)[1]


def naive() -> ASGIApp:
    return naive_app(Settings.load())
