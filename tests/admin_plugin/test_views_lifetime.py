"""The Tokens tab's Lifetime policy section through Flask's test client: the policy's change
(CSRF, audit, the token form held to it before a code is mailed), each token row's policy
status, the unused view and its confirmed revoke, and hostile requests to all of it."""

from __future__ import annotations

from typing import Any

import pytest

from admin_plugin import AdminIdentity
from policies import PolicyStore
from policies.lifetime import DAY, LifetimePolicy
from policies.operations import usage
from policies.storage.values import CreatedWorkspace
from tests.support.admin import BASE, Api, Inbox, Who
from tests.support.clock import ManualClock


def policy(api: Api, **body: Any) -> Any:
    return api.post("api/lifetime-policy", body)


def problem(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    data = response.get_json()
    assert data["code"] == code
    return str(data["detail"])


def test_the_section_shows_the_policy_and_a_change_is_audited(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    page = api.page().get_data(as_text=True)
    assert 'id="ks-panel-lifetime"' in page and "none (tokens may live forever)" in page
    response = policy(api, max_token_days=30, require_expiry=False)
    assert response.status_code == 200
    assert response.get_json() == {
        "max_token_days": 30,
        "require_expiry": False,
        "description": "tokens expire within 30 days of creation",
        "changed": True,
    }
    assert store.lifetime.policy(ws) == LifetimePolicy(30)
    entry = store.audit_tail(ws, 1)[0]
    assert entry.action == "policy.changed" and entry.actor == "admin:alice@acme.test"
    assert policy(api, max_token_days=30, require_expiry=False).get_json()["changed"] is False
    panel = api.get("panel/lifetime").get_data(as_text=True)
    assert 'value="30"' in panel and "tokens expire within 30 days of creation" in panel
    assert policy(api, max_token_days=None, require_expiry=True).status_code == 200
    assert store.lifetime.policy(ws) == LifetimePolicy(None, True)


def test_token_rows_show_their_policy_status(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    forever = store.create_token(ws, "forever", actor="t").info.key_id
    store.create_token(ws, "monthly", actor="t", expires=clock() + 30 * DAY)
    assert "out of policy" not in api.get("panel/tokens").get_data(as_text=True)
    policy(api, max_token_days=7)
    rows = api.get("panel/tokens").get_data(as_text=True).split("<tr data-key-id=")[1:]
    marked = [row for row in rows if "ks-out-of-policy" in row]
    assert len(rows) == 2 and len(marked) == 2
    by_id = {row.split('"')[1]: row for row in marked}
    assert "never expires (maximum 7 days)" in by_id[forever]
    assert any("lives 30 days (maximum 7 days)" in row for row in marked)


def test_the_token_form_is_refused_before_a_code_is_mailed(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    policy(api, max_token_days=30)
    detail = problem(api.post("api/tokens", {"name": "ci"}), 422, "token_lifetime")
    assert detail == (
        "this workspace's policy requires tokens to expire within 30 days: give the token an expiry"
    )
    detail = problem(
        api.post("api/tokens", {"name": "ci", "expires_in_days": 31}), 422, "token_lifetime"
    )
    assert "at most 30 days: this one would live 31 days" in detail
    assert inbox.is_empty()
    checked = api.post("api/tokens", {"name": "ci", "expires_in_days": 30})
    assert problem(checked, 403, "otp_required")
    assert store.list_tokens(workspace.workspace_id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"max_token_days": 0},
        {"max_token_days": -30},
        {"max_token_days": 3651},
        {"max_token_days": 10**40},
        {"max_token_days": "30"},
        {"max_token_days": 7.5},
        {"max_token_days": True},
        {"max_token_days": [30]},
        {"max_token_days": 30, "require_expiry": "yes"},
        {"require_expiry": 1},
    ],
)
def test_bad_policies_are_refused(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, body: dict[str, Any]
) -> None:
    policy(api, max_token_days=90)
    problem(api.post("api/lifetime-policy", body), 400, "invalid")
    assert store.lifetime.policy(workspace.workspace_id) == LifetimePolicy(90)


def test_policy_changes_need_the_csrf_token_and_the_workspace(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, who: Who
) -> None:
    ws = workspace.workspace_id
    refused = api.post("api/lifetime-policy", {"max_token_days": 1}, csrf=False)
    problem(refused, 400, "csrf")
    other = store.create_workspace("Other", actor="t").workspace_id
    elsewhere = Api(api.client, other, api.csrf)
    problem(elsewhere.post("api/lifetime-policy", {"max_token_days": 1}), 403, "forbidden")
    problem(elsewhere.get("panel/lifetime"), 403, "forbidden")
    who.admin = None
    problem(api.post("api/lifetime-policy", {"max_token_days": 1}), 403, "forbidden")
    assert store.lifetime.policy(ws).empty and store.lifetime.policy(other).empty


@pytest.fixture
def aged(store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock) -> dict[str, str]:
    """Tokens 100 days on: three never used, one used yesterday, one created today."""
    ws = workspace.workspace_id
    ids = {f"idle{n}": store.create_token(ws, f"idle{n}", actor="t").info.key_id for n in range(3)}
    ids["used"] = store.create_token(ws, "used", actor="t").info.key_id
    clock.advance(99 * DAY)
    store.run(usage.record(store.ctx, {ws: {ids["used"]: clock()}}, {}))  # the gateway's flush
    clock.advance(DAY)
    ids["young"] = store.create_token(ws, "young", actor="t").info.key_id
    return ids


def panel(api: Api, days: str = "") -> Any:
    query = f"&udays={days}" if days else ""
    return api.client.get(f"{BASE}panel/lifetime?ws={api.ws}{query}")


def listed(api: Api, days: str = "") -> list[str]:
    text = panel(api, days).get_data(as_text=True)
    return [row.split('"')[1] for row in text.split("<tr data-key-id=")[1:]]


def test_the_unused_view_lists_by_days(api: Api, aged: dict[str, str]) -> None:
    idle = {aged["idle0"], aged["idle1"], aged["idle2"]}
    assert set(listed(api)) == idle  # 90 days by default
    assert set(listed(api, "1")) == idle | {aged["used"]}
    assert listed(api, "101") == []
    assert "No live token has gone unused for 101 days" in panel(api, "101").get_data(as_text=True)
    page = api.page("?udays=1").get_data(as_text=True)  # the page itself, same argument
    assert aged["used"] in page.split('id="ks-panel-lifetime"')[1]


@pytest.mark.parametrize("days", ["0", "-1", "3651", "99999999999999999999", "x", "1.5", "²"])
def test_bad_days_are_a_400_on_the_panel_and_the_default_on_the_page(
    api: Api, aged: dict[str, str], days: str
) -> None:
    problem(panel(api, days), 400, "invalid")
    page = api.page(f"?udays={days}")
    assert page.status_code == 200
    assert 'name="udays" value="90"' in page.get_data(as_text=True)


def test_revoke_takes_the_ids_shown_and_rechecks_each(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    aged: dict[str, str],
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    shown = listed(api)
    # Between the view and the confirmation, one of them is used.
    store.run(usage.record(store.ctx, {ws: {aged["idle0"]: clock()}}, {}))
    other = store.create_workspace("Other", actor="t").workspace_id
    foreign = store.create_token(other, "theirs", actor="t").info.key_id
    hostile = [*shown, aged["used"], aged["young"], foreign, "0123456789ab"]
    response = api.post("api/tokens/revoke-unused", {"days": 90, "key_ids": hostile})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert {t["key_id"] for t in data["revoked"]} == {aged["idle1"], aged["idle2"]}
    assert {s["key_id"]: s["reason"] for s in data["skipped"]} == {
        aged["idle0"]: "used less than 90 days ago",
        aged["used"]: "used less than 90 days ago",
        aged["young"]: "created less than 90 days ago",
        foreign: "not a token of this workspace",
        "0123456789ab": "not a token of this workspace",
    }
    status = {t.key_id: t.status(clock()) for t in store.list_tokens(ws)}
    assert [k for k, s in status.items() if s == "revoked"] == sorted(
        [aged["idle1"], aged["idle2"]], key=list(status).index
    )
    assert store.list_tokens(other)[0].revoked is None
    entry = store.audit_tail(ws, 1)[0]
    assert entry.action == "tokens.unused_revoked" and entry.actor == "admin:alice@acme.test"
    assert entry.detail["revoked"] == 2 and entry.detail["skipped"] == 5
    assert listed(api) == []


IDLE = "IDLE"  # stands for an idle token's id, next to the hostile part


@pytest.mark.parametrize(
    "body",
    [
        {"days": 90, "key_ids": ["../etc", IDLE]},
        {"days": 90, "key_ids": [IDLE, "0123456789AB"]},
        {"days": 90, "key_ids": [IDLE, None]},
        {"days": 90, "key_ids": IDLE},
        {"days": 90},
        {"days": 90, "key_ids": []},
        {"days": 90, "key_ids": [IDLE, *(f"{n:012x}" for n in range(1000))]},
        {"days": -1, "key_ids": [IDLE]},
        {"days": 0, "key_ids": [IDLE]},
        {"days": 3651, "key_ids": [IDLE]},
        {"days": 10**30, "key_ids": [IDLE]},
        {"days": "90", "key_ids": [IDLE]},
        {"days": 90.0, "key_ids": [IDLE]},
        {"days": True, "key_ids": [IDLE]},
        {"key_ids": [IDLE]},
    ],
)
def test_hostile_revokes_are_refused_whole(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    aged: dict[str, str],
    body: dict[str, Any],
) -> None:
    ids = body.get("key_ids")
    if ids == IDLE:
        body = {**body, "key_ids": aged["idle0"]}
    elif isinstance(ids, list):
        body = {**body, "key_ids": [aged["idle0"] if k == IDLE else k for k in ids]}
    problem(api.post("api/tokens/revoke-unused", body), 400, "invalid")
    assert all(t.revoked is None for t in store.list_tokens(workspace.workspace_id))


def test_revoke_needs_the_csrf_token_and_a_workspace_the_admin_manages(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    aged: dict[str, str],
    alice: AdminIdentity,
) -> None:
    body = {"days": 90, "key_ids": listed(api)}
    problem(api.post("api/tokens/revoke-unused", body, csrf=False), 400, "csrf")
    other = store.create_workspace("Other", actor="t").workspace_id
    elsewhere = Api(api.client, other, api.csrf)  # the ids are alice's, the workspace not
    problem(elsewhere.post("api/tokens/revoke-unused", body), 403, "forbidden")
    assert all(t.revoked is None for t in store.list_tokens(workspace.workspace_id))
