"""The demo's workspace API: a small Starlette app whose route names are its catalog.

``name="projects.create"`` means module *projects*, functionality *create*; the gateway's
catalog is derived from these names, so the admin's Blacklist Action offers exactly these.
Each answer says who called (workspace, key kind, key id), as the gateway set it.
"""

from __future__ import annotations

import itertools

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_ids = itertools.count(1)


def _caller(request: Request) -> dict[str, object]:
    state = request.scope.get("state", {})
    return {k: state.get(k) for k in ("workspace_id", "key_kind", "key_id")}


async def list_projects(request: Request) -> JSONResponse:
    return JSONResponse({"projects": ["website", "mobile-app"], "caller": _caller(request)})


async def create_project(request: Request) -> JSONResponse:
    return JSONResponse(
        {"created": f"project-{next(_ids)}", "caller": _caller(request)}, status_code=201
    )


async def delete_project(request: Request) -> JSONResponse:
    return JSONResponse({"deleted": request.path_params["project_id"], "caller": _caller(request)})


async def invite_member(request: Request) -> JSONResponse:
    return JSONResponse({"invited": True, "caller": _caller(request)}, status_code=201)


async def remove_member(request: Request) -> JSONResponse:
    return JSONResponse({"removed": request.path_params["member_id"], "caller": _caller(request)})


async def read_billing(request: Request) -> JSONResponse:
    return JSONResponse({"plan": "team", "seats": 12, "caller": _caller(request)})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/projects", list_projects, methods=["GET"], name="projects.list"),
    Route("/projects", create_project, methods=["POST"], name="projects.create"),
    Route("/projects/{project_id}", delete_project, methods=["DELETE"], name="projects.delete"),
    Route("/members", invite_member, methods=["POST"], name="members.invite"),
    Route("/members/{member_id}", remove_member, methods=["DELETE"], name="members.remove"),
    Route("/billing", read_billing, methods=["GET"], name="billing.read"),
    Route("/health", health, methods=["GET"], name="health"),
    # The gateway's Prometheus metrics (the default, global registry); exempt in the demo.
    # A Route, not a Mount: served at /metrics as the banner prints it, no redirect.
    Route("/metrics", metrics, methods=["GET"], name="metrics"),
]

app = Starlette(routes=routes)
