"""Allow-lists in the admin through Flask's test client: the token form's scopes and
networks, the SDK key's Restrict section behind a code bound to the lists asked for."""

from __future__ import annotations

import pytest

from admin_plugin.views.tokens import token_form
from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api, Inbox, code_in, gateway_lookup

PROBLEM = "application/problem+json"


def test_a_token_created_with_scopes_and_networks(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    form = {
        "name": "office",
        "scopes": ["projects:read", "billing.read"],
        "networks": "203.0.113.7/24\n2001:db8::/32",
    }
    assert api.post("api/tokens", form).get_json()["code"] == "otp_required"
    # The code is bound to the lists too: one asked for other networks does not fit.
    keyring = store.ctx.keyring
    wider = token_form(store, {**form, "networks": "0.0.0.0/0"}).binding(keyring)
    assert token_form(store, form).binding(keyring) != wider
    assert api.post("api/otp", {"action": "token.create", **form}).status_code == 202
    response = api.post("api/tokens", {**form, "code": inbox.next_code()})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["scopes"] == ["billing.read", "projects:read"]
    assert data["networks"] == ["203.0.113.0/24", "2001:db8::/32"]
    policy = gateway_lookup(store, data["token"])
    assert policy is not None and policy.networks == ("203.0.113.0/24", "2001:db8::/32")
    panel = api.get("panel/tokens").get_data(as_text=True)
    assert 'scopes: <span class="text-monospace">billing.read, projects:read</span>' in panel
    assert "203.0.113.0/24, 2001:db8::/32" in panel


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"scopes": "projects:*"}, 400, "Scopes must be a list"),
        ({"scopes": ["projects:all"]}, 400, "after ':' comes"),
        ({"scopes": ["nope.list"]}, 400, "unknown module"),
        ({"networks": "10.0.0.0/33"}, 400, "is not a CIDR range"),
        ({"networks": {"a": 1}}, 400, "Networks are CIDR ranges"),
        ({"networks": "1.1.1.1 " * 2000}, 400, "At most 64 networks"),
    ],
)
def test_bad_allow_lists_are_explained_before_any_code(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    body: dict[str, object],
    status: int,
    message: str,
) -> None:
    for path in ("api/tokens", "api/sdk-key/restrict"):
        response = api.post(path, {"name": "x", **body})
        assert response.status_code == status and response.mimetype == PROBLEM
        assert message in response.get_json()["detail"]
    assert [e.action for e in store.audit_tail(workspace.workspace_id, 5)] == ["workspace.created"]


def test_the_sdk_key_restricted_behind_a_code_bound_to_the_lists(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    ws = workspace.workspace_id
    page = api.page().get_data(as_text=True)
    assert 'id="ks-sdk-restrict-form"' in page and "Now: any action" in page
    form = {"scopes": ["projects.list"], "networks": "10.0.0.0/8"}
    assert api.post("api/sdk-key/restrict", form).get_json()["code"] == "otp_required"
    assert api.post("api/otp", {"action": "sdk_key.restrict", **form}).status_code == 202
    mail = inbox.next()
    body = mail.get_body(("plain",))
    assert body is not None and "projects.list; from: 10.0.0.0/8" in body.get_content()
    code = code_in(body.get_content())
    wider = api.post("api/sdk-key/restrict", {"scopes": [], "networks": "", "code": code})
    assert wider.status_code == 403  # a code for these lists only (and now spent)
    assert store.sdk_restriction(ws).scopes is None
    assert api.post("api/otp", {"action": "sdk_key.restrict", **form}).status_code in (202, 429)


def test_restricting_the_sdk_key_with_its_code(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    ws = workspace.workspace_id
    form = {"scopes": ["projects.list"], "networks": "10.0.0.0/8"}
    assert api.post("api/otp", {"action": "sdk_key.restrict", **form}).status_code == 202
    response = api.post("api/sdk-key/restrict", {**form, "code": inbox.next_code()})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"scopes": ["projects.list"], "networks": ["10.0.0.0/8"]}
    policy = gateway_lookup(store, workspace.sdk_key)
    assert policy is not None and policy.scopes == ("projects.list",)
    assert store.audit_tail(ws, 1)[0].action == "sdk_key.restricted"
    page = api.page().get_data(as_text=True)
    assert 'Now: only <span class="text-monospace">projects.list</span>' in page
    no_csrf = api.post("api/sdk-key/restrict", form, csrf=False)
    assert no_csrf.status_code == 400 and no_csrf.get_json()["code"] == "csrf"
