"""Keystile's gateway: a pure ASGI middleware that decides every request by its API key.

Mount it in front of any ASGI workspace API (Starlette, FastAPI, Litestar)::

    from gateway import KeyGateMiddleware
    app = KeyGateMiddleware(app, exempt_paths=["/health", "/docs", "/openapi.json"])

The packages and a request's path through them: ``docs/architecture.md``.
"""

from gateway.config import GatewayConfig
from gateway.keys.identity import KeyCredentials, KeyUser
from gateway.metrics import GatewayMetrics
from gateway.middleware import LOGGER_NAME, KeyGateMiddleware
from gateway.refusals.problems import PROBLEMS, Problem
from gateway.routing.catalog_from_app import catalog_from_app
from gateway.routing.router import Action, Router

__all__ = [
    "LOGGER_NAME",
    "PROBLEMS",
    "Action",
    "GatewayConfig",
    "GatewayMetrics",
    "KeyCredentials",
    "KeyGateMiddleware",
    "KeyUser",
    "Problem",
    "Router",
    "catalog_from_app",
]
