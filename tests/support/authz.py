"""The non-Python API the authz tests protect: its catalog file, a served authz service.

The catalog is what ``keystile catalog load`` would store for an API that is not a
Starlette app: modules, then the route table in match order (README, "How a request finds
its action").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.authz.service import AuthzService
from policies import Catalog, Settings
from tests.support.served import served

API_CATALOG: dict[str, Any] = {
    "modules": {
        "projects": {"functionalities": {"list": {}, "create": {}, "delete": {}}},
        "billing": {"functionalities": {"read": {}}},
        "events": {"functionalities": {"stream": {}}},
    },
    "routes": [
        {"path": "/projects", "methods": ["GET"], "action": "projects.list"},
        {"path": "/projects", "methods": ["POST"], "action": "projects.create"},
        {"path": "/projects/{project_id:int}", "methods": ["DELETE"], "action": "projects.delete"},
        {"path": "/billing", "methods": ["GET"], "action": "billing.read"},
        {"websocket": "/events", "action": "events.stream"},
    ],
}


def api_catalog() -> Catalog:
    return Catalog.from_dict(API_CATALOG)


def mistyped(key: str) -> str:
    """``key`` with its last character changed (to another one, whatever it was)."""
    return key[:-1] + ("0" if key[-1] != "0" else "1")


def make_service(settings: Settings, **options: Any) -> AuthzService:
    options = {
        "trusted_proxies": ["127.0.0.1/32"],
        "settings": settings,
        "registry": CollectorRegistry(),
        **options,
    }
    return AuthzService(**options)


@contextlib.contextmanager
def served_service(service: AuthzService) -> Iterator[str]:
    """The service under a real uvicorn (in a thread), run as ``keystile authz`` runs it
    (no ``X-Forwarded-For`` from uvicorn); its ``host:port``."""
    with served(service, proxy_headers=False) as base:
        assert wait(service, service.gate.invalidation.wait_subscribed(10))
        yield base.removeprefix("http://")


def wait(service: AuthzService, awaitable: Any) -> Any:
    """Await on the service's own loop (uvicorn's thread): its events, not a sleep."""
    loop = service.gate.runtime.loop
    assert loop is not None, "the service has not started"
    return asyncio.run_coroutine_threadsafe(awaitable, loop).result(30)
