"""The Publishable Key tab through Flask's test client: show, revoke, blacklist rules."""

from __future__ import annotations

import redis

from policies import PolicyStore, Rule
from policies.storage.schema import CATALOG
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api, gateway_lookup


def test_page_shows_the_publishable_key_at_once(api: Api, workspace: CreatedWorkspace) -> None:
    html = api.page().get_data(as_text=True)
    assert f'value="{workspace.publishable_key}"' in html
    assert "Revoke Key" in html and "Blacklist Action" in html
    assert "Revoking a key immediately invalidates the previous key." in html


def test_revoke_issues_a_new_key_and_the_old_one_is_refused_at_once(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    response = api.post("api/publishable-key/rotate")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new_key = response.get_json()["key"]
    assert new_key.startswith("pk_") and new_key != workspace.publishable_key
    assert gateway_lookup(store, workspace.publishable_key) is None
    assert gateway_lookup(store, new_key) is not None
    assert store.publishable_key(workspace.workspace_id) == new_key
    assert f'value="{new_key}"' in api.page().get_data(as_text=True)
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "publishable_key.rotated"


def test_catalog_offers_modules_and_their_functionalities(api: Api) -> None:
    response = api.get("api/catalog")
    assert response.status_code == 200
    modules = response.get_json()["modules"]
    assert [m["name"] for m in modules] == ["projects", "members", "billing"]
    assert [f["name"] for f in modules[0]["functionalities"]] == ["list", "create", "delete"]
    assert modules[0]["description"] == "Projects"


def test_no_catalog_is_explained(api: Api, redis_client: redis.Redis) -> None:
    redis_client.delete(CATALOG)
    response = api.get("api/catalog")
    assert response.status_code == 409
    assert "keystile catalog load" in response.get_json()["detail"]


def test_save_a_rule_and_the_key_is_blocked_at_once(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    response = api.post("api/rules", {"module": "projects", "functionality": "create"})
    assert response.status_code == 201
    assert response.get_json() == {"rule": "projects:create", "label": "projects → create"}
    policy = gateway_lookup(store, workspace.publishable_key)
    assert policy is not None and policy.rules == frozenset({Rule("projects", "create")})
    panel = api.get("panel/rules").get_data(as_text=True)
    assert 'data-rule="projects:create"' in panel
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "rule.added"


def test_many_rules_and_whole_modules(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    for module, functionality in [("projects", "create"), ("projects", "delete"), ("billing", "*")]:
        assert (
            api.post("api/rules", {"module": module, "functionality": functionality}).status_code
            == 201
        )
    assert store.list_rules(workspace.workspace_id) == [
        Rule("billing", "*"),
        Rule("projects", "create"),
        Rule("projects", "delete"),
    ]
    policy = gateway_lookup(store, workspace.publishable_key)
    assert policy is not None and Rule("billing", "*") in policy.rules
    assert api.get("panel/rules").get_data(as_text=True).count("<tr data-rule=") == 3


def test_duplicate_rules_get_a_friendly_message(api: Api) -> None:
    api.post("api/rules", {"module": "projects", "functionality": "create"})
    again = api.post("api/rules", {"module": "projects", "functionality": "create"})
    assert again.status_code == 409
    assert again.get_json()["detail"] == "projects → create is already blocked."
    api.post("api/rules", {"module": "billing", "functionality": "*"})
    covered = api.post("api/rules", {"module": "billing", "functionality": "read"})
    assert covered.status_code == 409
    assert covered.get_json()["detail"] == (
        "billing → read is already blocked by the rule billing → every functionality."
    )


def test_rules_outside_the_catalog_are_refused(api: Api) -> None:
    unknown = api.post("api/rules", {"module": "payroll", "functionality": "*"})
    assert unknown.status_code == 422 and "unknown module 'payroll'" in unknown.get_json()["detail"]
    bad = api.post("api/rules", {"module": "projects", "functionality": "fly"})
    assert bad.status_code == 422 and "has no functionality 'fly'" in bad.get_json()["detail"]
    junk = api.post("api/rules", {"module": "<b>", "functionality": "x"})
    assert junk.status_code == 422
    missing = api.post("api/rules", {"module": "projects"})
    assert (
        missing.status_code == 400 and missing.get_json()["detail"] == "Functionality is required."
    )


def test_remove_a_rule(api: Api, store: PolicyStore, workspace: CreatedWorkspace) -> None:
    api.post("api/rules", {"module": "billing", "functionality": "*"})
    response = api.delete("api/rules/billing/*")
    assert response.status_code == 200 and response.get_json() == {"removed": "billing:*"}
    policy = gateway_lookup(store, workspace.publishable_key)
    assert policy is not None and policy.rules == frozenset()
    assert api.delete("api/rules/billing/*").status_code == 404
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "rule.removed"
