"""The demo's banner: where everything runs, and curl lines whose stated outcomes are true.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message

from gateway import KeyGateMiddleware
from policies import Catalog, PolicyStore, Settings

MODULE, FUNCTIONALITY, PATH = "billing", "read", "/billing"  # keystile.sample_api's route
Headers = dict[str, str]


@dataclass(frozen=True)
class Place:
    """Where the demo runs, as the banner names it."""

    api: str
    admin: str
    smtp_port: int
    admin_email: str
    cli: str  # the command that reaches the demo's store from another terminal
    created: bool


@dataclass(frozen=True)
class Answer:
    status: int
    code: str | None  # the problem's code (None: not a problem document)

    def __str__(self) -> str:
        return f"{self.status}: {(self.code or 'allowed').replace('_', ' ')}"


def cli_command(data_dir: str, external_redis: bool) -> str:
    """``keystile`` as this process was started (a relative path to a venv's script), joining
    the demo's Redis through the data folder unless it uses an external one."""
    program = os.path.relpath(sys.argv[0]) if sys.argv[0].endswith("keystile") else "keystile"
    return program if external_redis else f"{program} --embedded --data-dir {data_dir}"


async def _get(app: ASGIApp, path: str, headers: Headers) -> Answer:
    """One GET through ``app``, as a server would pass it (no network)."""
    sent: list[Message] = []
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if dict(start["headers"]).get(b"content-type", b"").startswith(b"application/problem+json"):
        return Answer(start["status"], json.loads(body)["code"])
    return Answer(start["status"], None)


async def ask_gateway(
    app: ASGIApp, settings: Settings, catalog: Catalog, requests: Sequence[Headers]
) -> list[Answer]:
    """What a gateway answers to ``GET /billing`` with each set of headers, now."""
    gate = KeyGateMiddleware(
        app,
        settings=settings,
        catalog=catalog,
        registry=CollectorRegistry(),  # the served gateway's metrics count real calls only
        usage_counts=False,  # and so do the usage charts
        logger=logging.getLogger("keystile.demo.banner"),
    )
    await gate.start()
    try:
        return [await _get(gate, PATH, headers) for headers in requests]
    finally:
        await gate.stop()


def _curl(place: Place, headers: Headers, answer: Answer | str) -> str:
    options = "".join(f" -H {shlex.quote(f'{k}: {v}')}" for k, v in headers.items())
    return f"curl -i{options} {place.api}{PATH}   # {answer}"


async def try_lines(
    store: PolicyStore, ws: str, place: Place, app: ASGIApp, settings: Settings, catalog: Catalog
) -> list[str]:
    pk = store.publishable_key(ws)
    with_key = {"Authorization": f"Bearer {pk}"}
    origins = store.workspace(ws).origins
    pinned = {**with_key, "Origin": origins[0]} if origins else with_key
    plain, no_key, with_origin = await ask_gateway(app, settings, catalog, [with_key, {}, pinned])
    if plain.code == "origin_not_allowed":  # pinned: show the call that names an origin
        with_key, plain = pinned, with_origin
    lines = [_curl(place, with_key, plain), _curl(place, {}, no_key)]
    if plain.status == 200:
        return [
            *lines,
            f"# block it: Tokens page > Publishable Key > Blacklist Action > {MODULE} / "
            f"{FUNCTIONALITY}, or",
            f"{place.cli} rules add {ws} {MODULE} {FUNCTIONALITY}",
            _curl(place, with_key, "403: action blocked"),
        ]
    rules = [r for r in store.list_rules(ws) if r.module == MODULE]
    if plain.code != "action_blocked" or not rules:
        return lines  # no story to tell beyond what the gateway answered
    named = ", ".join(str(r) for r in rules)
    return [
        f"{lines[0]} (this workspace's rules on {MODULE}: {named})",
        lines[1],
        "# allow it again: Tokens page > Publishable Key > remove the rules, or",
        *(
            f"{place.cli} rules remove {ws} {r.module} {shlex.quote(r.functionality)}"
            for r in rules
        ),
        _curl(place, with_key, "200: allowed"),
    ]


def banner(store: PolicyStore, ws: str, place: Place, lines: Sequence[str]) -> str:
    tried = "\n".join(f"  {line}" for line in lines)
    state = "(new workspace seeded)" if place.created else "(data kept from last run)"
    return f"""
Keystile demo {state}
  workspace API (behind the gateway): {place.api}
  admin, Tokens page:                 {place.admin}   (signed in as {place.admin_email})
  one-time passwords are printed here, by the local mail sink on port {place.smtp_port}
  gateway metrics (Prometheus):       {place.api}/metrics

  publishable key: {store.publishable_key(ws)}

Try it:
{tried}

Ctrl-C stops the demo; keys and rules are kept in the data folder.
"""
