"""The workspace APIs the gateway tests put behind the middleware: Starlette and FastAPI.

Route names are the catalog (``name="projects.create"``); every endpoint answers with what
the gateway told it about the caller, so tests can check ``request.user``/``auth``/``state``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket


def caller(conn: HTTPConnection) -> dict[str, Any]:
    state = conn.scope.get("state", {})
    user = conn.scope.get("user")
    auth = conn.scope.get("auth")
    return {
        "workspace_id": state.get("workspace_id"),
        "key_kind": state.get("key_kind"),
        "key_id": state.get("key_id"),
        "action": state.get("action"),
        "lifespan": state.get("lifespan"),
        "user": None if user is None else user.identity,
        "display_name": None if user is None else user.display_name,
        "authenticated": None if user is None else user.is_authenticated,
        "scopes": None if auth is None else list(auth.scopes),
    }


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "caller": caller(request)})


@requires("sdk")
async def export(request: Request) -> JSONResponse:
    """Starlette's own authorization decorator, fed by the gateway's ``request.auth``."""
    return JSONResponse({"exported": True, "caller": caller(request)})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def events(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(caller(websocket))
    await websocket.close()


def demo_routes() -> list[BaseRoute]:
    return [
        Route("/projects", echo, methods=["GET"], name="projects.list"),
        Route("/projects", echo, methods=["POST"], name="projects.create"),
        Route("/projects/{project_id}", echo, methods=["DELETE"], name="projects.delete"),
        Route("/members", echo, methods=["POST"], name="members.invite"),
        Route("/members/{member_id:int}", echo, methods=["DELETE"], name="members.remove"),
        Route("/billing", echo, methods=["GET"], name="billing.read"),
        Route("/reports/export", export, methods=["GET"], name="reports.export"),
        WebSocketRoute("/events", events, name="events.stream"),
        Route("/health", health, name="health"),
        Route("/docs/{page:path}", echo, name="docs"),
        Route("/uncatalogued", echo, methods=["GET", "POST"], name="uncatalogued"),
        WebSocketRoute("/ws-uncatalogued", events, name="ws_uncatalogued"),
    ]


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    yield {"lifespan": "ran"}


def starlette_app() -> Starlette:
    return Starlette(routes=demo_routes(), lifespan=lifespan)


def fastapi_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/projects", name="projects.list")
    async def list_projects(request: FastAPIRequest) -> dict[str, Any]:
        return {"projects": [], "caller": caller(request)}

    @app.post("/projects", name="projects.create", status_code=201)
    async def create_project(request: FastAPIRequest) -> dict[str, Any]:
        return {"created": True, "caller": caller(request)}

    @app.delete("/projects/{project_id}", name="projects.delete")
    async def delete_project(project_id: str, request: FastAPIRequest) -> dict[str, Any]:
        return {"deleted": project_id, "caller": caller(request)}

    @app.get("/billing", name="billing.read")
    async def read_billing(request: FastAPIRequest) -> dict[str, Any]:
        return {"plan": "team", "caller": caller(request)}

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app
