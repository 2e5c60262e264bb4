"""GitLab's token revocation API: its token, its body, its types, its rate."""

from __future__ import annotations

import base64

import httpx
import pytest

from gateway.leaks.config import GITLAB_TYPES
from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.gateway.leaks.conftest import GITLAB_TOKEN, Make
from tests.support.admin import gateway_lookup
from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio
AUTH = {"Authorization": GITLAB_TOKEN}
REVOKE = "/gitlab/v1/revoke_tokens"


def item(token: str, type_: str = GITLAB_TYPES[1]) -> dict[str, str]:
    return {"type": type_, "token": token, "location": "https://gitlab.example/acme/app/-/blob/x"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "wrong"}, {"Authorization": GITLAB_TOKEN[:-1]}, {"Authorization": ""}],
)
async def test_a_missing_or_wrong_token_is_401(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace,
    headers: dict[str, str],
) -> None:  # fmt: skip
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    assert (await http.get("/gitlab/v1/revocable_token_types", headers=headers)).status_code == 401
    answer = await http.post(REVOKE, json=[item(token.token)], headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    assert gateway_lookup(store, token.token) is not None


async def test_types_and_a_revocation(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    types = await http.get("/gitlab/v1/revocable_token_types", headers=AUTH)
    assert types.status_code == 200 and types.json() == {"types": list(GITLAB_TYPES)}
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    body = [item(token.token), item(token.token), item(workspace.publishable_key)]
    bearer = {"Authorization": f"Bearer {GITLAB_TOKEN}"}
    answer = await http.post(REVOKE, json=body, headers=bearer)
    assert answer.status_code == 204 and answer.content == b""
    assert gateway_lookup(store, token.token) is None
    assert gateway_lookup(store, workspace.publishable_key) is not None
    again = await http.post(REVOKE, json=body, headers=AUTH)  # idempotent
    assert again.status_code == 204
    entries = [e for e in store.audit_tail(workspace.workspace_id, 50) if e.action == "key.leaked"]
    assert [(e.actor, e.detail["reporter"], e.detail["action"]) for e in entries] == [
        ("leak-report:gitlab", "gitlab", "revoked")
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"{}",
        b'[{"type": "gitleaks_rule_id_keystile_workspace_token"}]',
        b'[{"type": "gitleaks_rule_id_other", "token": "x"}]',  # unsupported type
        b'[{"type": 1, "token": "x"}]',
    ],
)
async def test_a_bad_body_is_400_and_nothing_is_handled(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace, body: bytes
) -> None:
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    # The good item first: a bad one anywhere refuses the whole body before any is handled.
    good = f'[{{"type": "{GITLAB_TYPES[1]}", "token": "{token.token}"}}'.encode()
    full = good + b"," + body[1:] if body.startswith(b"[") else body
    answer = await http.post(REVOKE, content=full, headers=AUTH)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert gateway_lookup(store, token.token) is not None


async def test_the_rate_is_bounded(make_leaks: Make, refresh_clock: ManualClock) -> None:
    app = make_leaks(gitlab_rate=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for _ in range(3):
            assert (await client.post(REVOKE, json=[], headers=AUTH)).status_code == 204
        limited = await client.post(REVOKE, json=[], headers=AUTH)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert (await client.post(REVOKE, json=[])).status_code == 401  # not counted either
        refresh_clock.advance(60)
        assert (await client.post(REVOKE, json=[], headers=AUTH)).status_code == 204


async def test_without_a_token_gitlab_is_not_served(make_leaks: Make) -> None:
    transport = httpx.ASGITransport(app=make_leaks(gitlab_token=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post(REVOKE, json=[], headers=AUTH)
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"


async def test_the_token_counts_only_alone_in_one_authorization_header(
    http: httpx.AsyncClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """Not in the query string (a URL lands in logs), not twice, not as Basic, not with
    anything around it."""
    token = store.create_token(workspace.workspace_id, "ci", actor="test")
    body = [item(token.token)]
    basic = base64.b64encode(f"gitlab:{GITLAB_TOKEN}".encode()).decode()
    attempts: list[tuple[str, list[tuple[str, str]]]] = [
        (f"{REVOKE}?token={GITLAB_TOKEN}", []),
        (f"{REVOKE}?private_token={GITLAB_TOKEN}", []),
        (REVOKE, [("Authorization", GITLAB_TOKEN), ("Authorization", GITLAB_TOKEN)]),
        (REVOKE, [("Authorization", f"Basic {basic}")]),
        (REVOKE, [("Authorization", f"Token {GITLAB_TOKEN}")]),
        (REVOKE, [("Authorization", f"Bearer {GITLAB_TOKEN}x")]),
        (REVOKE, [("Authorization", f"Bearer Bearer {GITLAB_TOKEN}")]),
        (REVOKE, [("Private-Token", GITLAB_TOKEN)]),
    ]
    for path, headers in attempts:
        answer = await http.post(path, json=body, headers=headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.headers["content-type"] == "application/problem+json"
        assert GITLAB_TOKEN not in answer.text
    assert gateway_lookup(store, token.token) is not None
    lower = await http.post(REVOKE, json=body, headers={"authorization": f"bearer {GITLAB_TOKEN}"})
    assert lower.status_code == 204 and gateway_lookup(store, token.token) is None
