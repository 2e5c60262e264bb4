"""WebSockets: the same decisions, refused before the handshake is accepted."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore, Rule
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import websocket, websocket_scope
from tests.support.clock import ManualClock
from tests.support.gateway import Factory

pytestmark = pytest.mark.anyio


def auth(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


def closed_before_accept(sent: Sequence[Mapping[str, Any]], code: int, reason: str) -> None:
    assert [m["type"] for m in sent] == ["websocket.close"], sent
    assert sent[0]["code"] == code
    assert sent[0]["reason"] == reason


async def test_allowed_websocket_sees_who_called(
    gate: KeyGateMiddleware, workspace: CreatedWorkspace
) -> None:
    sent = await websocket(gate, websocket_scope("/events", auth(workspace.publishable_key)))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    caller = json.loads(sent[1]["text"])
    assert caller["workspace_id"] == workspace.workspace_id
    assert caller["key_kind"] == "pk"
    assert caller["action"] == "events.stream"
    assert caller["scopes"] == ["authenticated", "publishable"]


async def test_every_refusal_has_its_close_code(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "t", actor="test", expires=clock.now + 10)
    store.add_rule(ws, Rule("events", "stream"), actor="test")
    store.set_origins(ws, ["https://app.example"], actor="test")
    await gate.invalidation.wait_version(ws, store.workspace(ws).version)

    closed_before_accept(await websocket(gate, websocket_scope("/events")), 4001, "missing_key")
    invalid = websocket_scope("/events", [(b"x-api-key", b"sk_nope")])
    closed_before_accept(await websocket(gate, invalid), 4002, "invalid_key")
    blocked = websocket_scope(
        "/events", [*auth(workspace.publishable_key), (b"origin", b"https://app.example")]
    )
    closed_before_accept(await websocket(gate, blocked), 4004, "action_blocked")
    elsewhere = websocket_scope(
        "/events", [*auth(workspace.publishable_key), (b"origin", b"https://evil.example")]
    )
    closed_before_accept(await websocket(gate, elsewhere), 4005, "origin_not_allowed")
    uncatalogued = websocket_scope("/ws-uncatalogued", auth(token.token))
    closed_before_accept(await websocket(gate, uncatalogued), 4006, "route_not_in_catalog")
    clock.advance(11)
    expired = websocket_scope("/events", auth(token.token))
    closed_before_accept(await websocket(gate, expired), 4003, "expired_key")
    # The SDK key is refused nothing.
    sent = await websocket(gate, websocket_scope("/events", auth(workspace.sdk_key)))
    assert sent[0]["type"] == "websocket.accept"


async def test_http_denial_when_the_server_offers_it(
    make_gate: Factory, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    gate = make_gate(websocket_denial="http")
    offered: dict[str, Any] = {"websocket.http.response": {}}
    sent = await websocket(gate, websocket_scope("/events", extensions=offered))
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 401
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"www-authenticate"] == b"Bearer"
    assert json.loads(sent[1]["body"])["code"] == "missing_key"
    # A server without the extension gets the close code instead.
    closed_before_accept(await websocket(gate, websocket_scope("/events")), 4001, "missing_key")
    await gate.stop()


async def test_client_gone_before_the_refusal(gate: KeyGateMiddleware) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await gate(websocket_scope("/events"), receive, send)  # type: ignore[arg-type]
    assert sent == []  # nothing to refuse: no error either
