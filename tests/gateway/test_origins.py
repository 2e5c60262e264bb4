"""Publishable keys pinned to browser origins, checked on Origin, else Referer."""

from __future__ import annotations

import httpx
import pytest

from gateway import KeyGateMiddleware
from policies import PolicyStore
from policies.origins import normalize_origin
from policies.storage.values import CreatedWorkspace
from tests.support.asgi import call, http_scope
from tests.support.gateway import bearer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pinned(
    gate: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> KeyGateMiddleware:
    ws = workspace.workspace_id
    store.set_origins(ws, ["https://app.example.com", "http://localhost:3000"], actor="test")
    assert await gate.invalidation.wait_version(ws, store.workspace(ws).version)
    return gate


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://app.example.com"}, 200),
        ({"Origin": "https://APP.example.com:443"}, 200),  # case and default port
        ({"Origin": "http://localhost:3000"}, 200),
        ({"Referer": "https://app.example.com/dashboard?tab=1"}, 200),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "http://app.example.com"}, 403),  # scheme matters
        ({"Origin": "https://app.example.com.evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://evil.example", "Referer": "https://app.example.com/"}, 403),
        ({"Referer": "https://evil.example/https://app.example.com"}, 403),
        ({}, 403),  # no browser context at all: refused, as browser keys are elsewhere
    ],
)
async def test_publishable_key_origins(
    pinned: KeyGateMiddleware, workspace: CreatedWorkspace, headers: dict[str, str], status: int
) -> None:
    transport = httpx.ASGITransport(app=pinned)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get(
            "/projects", headers={**bearer(workspace.publishable_key), **headers}
        )
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "origin_not_allowed"


async def test_other_keys_ignore_origins(
    pinned: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    token = store.create_token(workspace.workspace_id, "server", actor="test")
    for key in (workspace.sdk_key, token.token):
        headers = [(b"authorization", f"Bearer {key}".encode()), (b"origin", b"https://x.example")]
        assert (await call(pinned, http_scope(headers=headers))).status == 200


async def test_non_utf8_origin_is_refused_not_crashed(
    pinned: KeyGateMiddleware, workspace: CreatedWorkspace
) -> None:
    headers = [
        (b"authorization", f"Bearer {workspace.publishable_key}".encode()),
        (b"origin", b"https://\xff\xfe.example"),
    ]
    answer = await call(pinned, http_scope(headers=headers))
    assert answer.status == 403 and answer.json()["code"] == "origin_not_allowed"


async def test_lifting_the_pin_applies_at_once(
    pinned: KeyGateMiddleware, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    headers = [(b"authorization", f"Bearer {workspace.publishable_key}".encode())]
    assert (await call(pinned, http_scope(headers=headers))).status == 403
    store.set_origins(ws, [], actor="test")
    assert await pinned.invalidation.wait_version(ws, store.workspace(ws).version)
    assert (await call(pinned, http_scope(headers=headers))).status == 200


def test_normalize_origin() -> None:
    assert normalize_origin("HTTPS://App.Example.COM/") == "https://app.example.com"
    assert normalize_origin("http://a.example:80") == "http://a.example"
    assert normalize_origin("http://a.example:8080/x") == "http://a.example:8080"
    assert normalize_origin("https://user@a.example/p") == "https://a.example"
    assert normalize_origin("null") == "null"
