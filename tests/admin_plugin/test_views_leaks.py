"""The leak panel's policy route: CSRF, checked choices, audited; the panel's fragment."""

from __future__ import annotations

from policies import PolicyStore
from policies.leaks.policy import LeakPolicy, Sighting
from policies.operations import leaks
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api


def test_the_policy_is_set_checked_and_audited(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert (
        api.post("api/leak-policy", {"sdk": "notify", "tokens": "revoke"}, csrf=False).status_code
        == 400
    )
    for bad in ({"sdk": "revoke"}, {"tokens": "roll"}, {"sdk": ["roll"]}, {"tokens": None}):
        answer = api.post("api/leak-policy", {"sdk": "roll", "tokens": "revoke", **bad})
        assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert store.run(leaks.get_policy(store.ctx, ws)) == LeakPolicy()
    answer = api.post("api/leak-policy", {"sdk": "notify", "tokens": "revoke"})
    assert answer.status_code == 200 and answer.json == {
        "sdk": "notify",
        "tokens": "revoke",
        "changed": True,
    }
    assert store.run(leaks.get_policy(store.ctx, ws)) == LeakPolicy("notify", "revoke")
    [entry] = [e for e in store.audit_tail(ws, 10) if e.action == "leak_policy.set"]
    assert entry.actor.startswith("admin:") and entry.detail == {
        "sdk": "notify",
        "tokens": "revoke",
    }


def test_the_panel_lists_reports_newest_first(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    first = store.create_token(ws, "first", actor="test")
    second = store.create_token(ws, "<b>second</b>", actor="test")
    for token in (first, second):
        store.run(
            leaks.report(store.ctx, token.token, Sighting("github", "https://x/<i>", "content"))
        )
    html = api.get("panel/leaks").get_data(as_text=True)
    assert html.index("&lt;b&gt;second&lt;/b&gt;") < html.index("first")
    assert "https://x/&lt;i&gt;" in html and "<i>" not in html
    assert html.count("token revoked") == 2


def test_a_damaged_policy_is_shown_not_a_500(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    store.client.hset(schema.meta(workspace.workspace_id), "leak_policy", "{")
    page = api.page()
    assert page.status_code == 200
    assert 'id="ks-leak-policy-damaged"' in page.get_data(as_text=True)
    assert api.post("api/leak-policy", {"sdk": "roll", "tokens": "notify"}).status_code == 200
    assert 'id="ks-leak-policy-damaged"' not in api.get("panel/leaks").get_data(as_text=True)
