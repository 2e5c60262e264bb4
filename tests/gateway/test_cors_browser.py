"""A page on origin A calls the API on origin B with the publishable key, in Chromium.

The ``Authorization`` header makes every call preflighted. With Starlette's
``CORSMiddleware`` outside the gateway (the documented place) and inside it, the allowed
action answers 200 and the blacklisted one 403, both readable by the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from gateway import KeyGateMiddleware, catalog_from_app
from policies import PolicyStore, Rule, Settings
from policies.storage.values import CreatedWorkspace
from tests.support.browser import chromium
from tests.support.served import served

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FETCH = """async ([url, key]) => {
  const answer = await fetch(url, {headers: {Authorization: "Bearer " + key}});
  return [answer.status, await answer.text()];
}"""


async def projects(request: Request) -> JSONResponse:
    return JSONResponse({"projects": [], "action": request.state.action})


async def billing(request: Request) -> JSONResponse:
    return JSONResponse({"plan": "team"})


def api() -> Starlette:
    return Starlette(
        routes=[
            Route("/projects", projects, name="projects.list"),
            Route("/billing", billing, name="billing.read"),
        ]
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.mark.parametrize("cors", ["outside", "inside"])
def test_a_page_on_another_origin_reads_allowed_and_refused_answers(
    browser: Browser,
    settings: Settings,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    cors: str,
) -> None:
    store.save_catalog(catalog_from_app(api()))
    store.add_rule(workspace.workspace_id, Rule("billing", "read"), actor="test")

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>origin A</title><p>A page")

    with served(Starlette(routes=[Route("/", page)])) as page_base:
        origin = page_base.replace("127.0.0.1", "localhost")  # another origin than the API's
        options: dict[str, Any] = {
            "allow_origins": [origin],
            "allow_methods": ["GET"],
            "allow_headers": ["Authorization"],
        }
        gate_options = {"settings": settings, "registry": CollectorRegistry()}
        if cors == "outside":
            app: Any = CORSMiddleware(KeyGateMiddleware(api(), **gate_options), **options)
        else:
            app = KeyGateMiddleware(CORSMiddleware(api(), **options), **gate_options)
        with served(app) as api_base:
            tab = browser.new_page()
            tab.goto(origin + "/")
            key = workspace.publishable_key
            status, body = tab.evaluate(FETCH, [api_base + "/projects", key])
            assert status == 200 and json.loads(body)["action"] == "projects.list"
            status, body = tab.evaluate(FETCH, [api_base + "/billing", key])
            assert status == 403
            assert json.loads(body)["code"] == "action_blocked"
            tab.close()
