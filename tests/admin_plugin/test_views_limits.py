"""Rate limits in the admin through Flask's test client: the publishable key's and the SDK
key's sections, a token's limits in the list and on the token form."""

from __future__ import annotations

import json

import pytest

from policies import Catalog, PolicyStore
from policies.limits.rate_limits import Limits
from policies.storage.values import CreatedWorkspace
from tests.admin_plugin.test_views_tokens import create
from tests.support.admin import Api, Inbox, gateway_lookup

PROBLEM = "application/problem+json"


def put(api: Api, key: str, limits: object, scope: str = "*") -> tuple[int, dict[str, object]]:
    response = api.post("api/limits", {"key": key, "scope": scope, "limits": limits})
    data = response.get_json()
    assert isinstance(data, dict)
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM
    return response.status_code, data


def described(store: PolicyStore, ws: str, owner: str) -> str:
    return store.limits.of(ws, owner).describe()


@pytest.mark.parametrize(("key", "owner"), [("publishable", "pk"), ("sdk", "sk")])
def test_add_edit_remove_a_role_keys_limits(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, key: str, owner: str
) -> None:
    ws = workspace.workspace_id
    status, data = put(api, key, "100/min, 10000/day")
    assert status == 200
    assert data["limits"] == ["100/min", "10000/day"] and data["label"] == "Whole key"
    status, data = put(api, key, "10 / min", scope="projects.create")
    assert status == 200 and data["scope"] == "projects.create"
    assert described(store, ws, owner) == "key: 100/min, 10000/day; projects.create: 10/min"
    entry = store.audit_tail(ws, 1)[0]
    assert entry.action == "limits.set" and entry.actor == "admin:alice@acme.test"
    assert entry.detail["scope"] == "projects.create" and entry.detail["limits"] == ["10/min"]

    panel = api.get(f"panel/{owner}-limits").get_data(as_text=True)
    assert panel.count("<tr data-scope=") == 2
    assert 'data-limits="100/min, 10000/day"' in panel and "<code>projects.create</code>" in panel

    # Editing replaces that scope's windows only; the other scope stays as it was.
    assert put(api, key, "50/s, 1000/10s")[0] == 200
    assert described(store, ws, owner) == "key: 50/s, 1000/10s; projects.create: 10/min"

    removed = api.delete(f"api/limits/{key}/*")
    assert removed.status_code == 200 and removed.get_json()["removed"] == "*"
    assert described(store, ws, owner) == "projects.create: 10/min"
    assert store.audit_tail(ws, 1)[0].action == "limits.removed"
    again = api.delete(f"api/limits/{key}/*")
    assert again.status_code == 404
    assert "has no limit on the whole key" in again.get_json()["detail"]
    assert api.delete(f"api/limits/{key}/projects.create").status_code == 200
    assert store.limits.by_owner(ws) == {}
    assert "No rate limits" in api.get(f"panel/{owner}-limits").get_data(as_text=True)


def test_a_publishable_limit_reaches_the_gateways_lookup_at_once(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    assert put(api, "publishable", "2/min")[0] == 200
    policy = gateway_lookup(store, workspace.publishable_key)
    assert policy is not None and policy.limits == Limits.of({"*": ["2/min"]})
    api.delete("api/limits/publishable/*")
    policy = gateway_lookup(store, workspace.publishable_key)
    assert policy is not None and not policy.limits


def test_the_page_shows_both_role_keys_sections(api: Api) -> None:
    put(api, "sdk", "7/h")
    html = api.page().get_data(as_text=True)
    assert html.count("Add rate limit") == 2
    assert 'id="ks-panel-pk-limits"' in html and 'id="ks-panel-sk-limits"' in html
    assert 'data-limits="7/h"' in html and 'id="ks-publishable-limits-empty"' in html


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"limits": "abc"}, 400, "limit 'abc' is not COUNT/WINDOW"),
        ({"limits": "0/min"}, 400, "a limit's count must be 1-1,000,000,000"),
        ({"limits": "5/fortnight"}, 400, "limit '5/fortnight' is not COUNT/WINDOW"),
        ({"limits": "100/min, 5/fortnight"}, 400, "'5/fortnight' is not COUNT/WINDOW"),
        ({"limits": "1/min, 2/min"}, 400, "two limits over the same window"),
        ({"limits": "1/s, 1/min, 1/h, 1/day, 2/2day"}, 400, "at most 4 limits"),
        ({"limits": ""}, 400, "Give at least one limit"),
        ({"limits": " , "}, 400, "Give at least one limit"),
        ({"limits": 100}, 400, "Limits must be text"),
        ({"limits": "1/min," * 50}, 400, "at most 200 characters"),
        ({"scope": "payroll.run"}, 422, "unknown module 'payroll'"),
        ({"scope": "projects.fly"}, 422, "has no functionality 'fly'"),
        ({"scope": "billing.*"}, 400, "is not module.functionality"),
        ({"scope": "<b>"}, 400, "is not module.functionality"),
        ({"key": "everything"}, 400, "Say which key"),
        ({"key": ""}, 400, "Key is required."),
    ],
)
def test_bad_input_is_explained_and_nothing_is_stored(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    ws = workspace.workspace_id
    assert put(api, "publishable", "100/min")[0] == 200
    before, audited = store.limits.by_owner(ws), len(store.audit_tail(ws, 50))
    response = api.post("api/limits", {"key": "publishable", "scope": "*", "limits": "1/s", **body})
    assert response.status_code == status and response.mimetype == PROBLEM
    assert message in response.get_json()["detail"]
    assert store.limits.by_owner(ws) == before
    assert len(store.audit_tail(ws, 50)) == audited


def test_without_the_csrf_token_nothing_changes(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert put(api, "sdk", "100/min")[0] == 200
    edit = api.post("api/limits", {"key": "sdk", "scope": "*", "limits": "1/min"}, csrf=False)
    removal = api.delete("api/limits/sdk/*", csrf=False)
    for refused in (edit, removal):
        assert refused.status_code == 400 and refused.get_json()["code"] == "csrf"
    assert described(store, ws, "sk") == "key: 100/min"


def test_a_tokens_limits_set_changed_and_removed(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    ws = workspace.workspace_id
    kid = str(create(api, inbox, name="export")["key_id"])
    row = api.get("panel/tokens").get_data(as_text=True)
    assert 'data-ks-action="add-limit"' in row and 'data-limits=""' in row
    assert put(api, kid, "100/min")[0] == 200
    assert put(api, kid, "20/min", scope="billing.read")[0] == 200
    assert put(api, kid, "60/min, 1000/h")[0] == 200
    assert described(store, ws, f"tk:{kid}") == "key: 60/min, 1000/h; billing.read: 20/min"
    panel = api.get("panel/tokens").get_data(as_text=True)
    assert "limit: <span" in panel and "60/min, 1000/h" in panel
    assert 'data-limits="60/min, 1000/h"' in panel  # the Limits button edits the whole token's
    assert "limit on billing.read: " in panel
    assert store.audit_tail(ws, 1)[0].detail["key"] == f"token {kid}"
    assert api.delete(f"api/limits/{kid}/billing.read").status_code == 200
    assert described(store, ws, f"tk:{kid}") == "key: 60/min, 1000/h"


def test_a_token_that_is_not_there_has_no_limits_to_set(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    ws = workspace.workspace_id
    kid = str(create(api, inbox)["key_id"])
    assert api.delete(f"api/tokens/{kid}").status_code == 200
    status, data = put(api, kid, "1/min")
    assert status == 400 and f"token {kid} is revoked" in str(data["detail"])
    status, data = put(api, "000000000000", "1/min")
    assert status == 404 and "no token with id '000000000000'" in str(data["detail"])
    # Another workspace's token is not found here: its id means nothing in this one.
    other = store.create_workspace("Other", actor="test")
    foreign = store.create_token(other.workspace_id, "theirs", actor="test").info.key_id
    status, data = put(api, foreign, "1/min")
    assert status == 404 and "no token with id" in str(data["detail"])
    assert api.delete(f"api/limits/{foreign}/*").status_code == 404
    assert store.limits.by_owner(ws) == {} and store.limits.by_owner(other.workspace_id) == {}


def test_a_token_created_with_limits(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    created = create(api, inbox, limits="100/min, 10000/day")
    assert created["limits"] == ["100/min", "10000/day"]
    policy = gateway_lookup(store, str(created["token"]))
    assert policy is not None and policy.limits == Limits.of({"*": ["100/min", "10000/day"]})
    entry = store.audit_tail(workspace.workspace_id, 1)[0]
    assert entry.action == "token.created" and entry.detail["limits"] == "key: 100/min, 10000/day"
    assert create(api, inbox, name="free", limits="  ")["limits"] == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [("abc", "is not COUNT/WINDOW"), ("0/min", "count must be 1-"), ("5/fortnight", "COUNT")],
)
def test_a_token_forms_bad_limits_are_explained_before_a_code(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    inbox: Inbox,
    limits: str,
    message: str,
) -> None:
    response = api.post("api/tokens", {"name": "ci", "limits": limits})
    assert response.status_code == 400 and message in response.get_json()["detail"]
    assert inbox.is_empty() and store.list_tokens(workspace.workspace_id) == []


def test_limits_a_forced_catalog_disarmed_are_marked_and_removable(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """A forced ``catalog load`` that dropped an action leaves its limits counting nothing:
    the sections say so, and Remove lifts them (the action need not exist)."""
    ws = workspace.workspace_id
    assert put(api, "publishable", "10/min", scope="projects.create")[0] == 200
    assert put(api, "publishable", "100/min")[0] == 200
    kid = store.create_token(ws, "ci", actor="t").info.key_id
    assert put(api, kid, "5/s", scope="projects.create")[0] == 200
    live = store.load_catalog()
    assert live is not None
    data = json.loads(live.to_json())
    data["modules"]["projects"]["functionalities"].pop("create")
    data["routes"] = [r for r in data["routes"] if r.get("action") != "projects.create"]
    store.save_catalog(Catalog.from_dict(data), force=True)

    panel = api.get("panel/pk-limits").get_data(as_text=True)
    assert panel.count("ks-limit-dead") == 1  # projects.create's row, not the whole key's
    assert panel.index("<code>projects.create</code>") < panel.index("ks-limit-dead")
    assert api.get("panel/tokens").get_data(as_text=True).count("ks-limit-dead") == 1
    assert api.delete("api/limits/publishable/projects.create").status_code == 200
    assert api.delete(f"api/limits/{kid}/projects.create").status_code == 200
    assert "ks-limit-dead" not in api.get("panel/pk-limits").get_data(as_text=True)
    assert described(store, ws, "pk") == "key: 100/min"
