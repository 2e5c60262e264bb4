"""A host app's own CSRF protection is the host's: the plugin neither switches it off nor
depends on it. Flask-WTF's ``CSRFProtect`` set up before ``init_app``, after it, or not at
all; the plugin checks every unsafe route of its own in each case, DELETE included."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_admin import Admin
from flask_wtf.csrf import CSRFProtect

from admin_plugin import AdminIdentity, KeystileAdmin, SmtpMailer
from policies import PolicyStore
from policies.catalog.rules import Rule
from policies.storage.values import CreatedWorkspace
from tests.admin_plugin.test_access import UNSAFE, call
from tests.support.admin import HOST_SECRET, Api

ORDERS = ("before", "after", "none")  # when the host calls CSRFProtect(app), if at all


def host_app(
    store: PolicyStore, mailer: SmtpMailer, alice: AdminIdentity, order: str, **config: Any
) -> Flask:
    app = Flask("host")
    app.secret_key = HOST_SECRET
    app.config.update(config)

    @app.post("/host-form")
    def host_form() -> str:
        return "ok"

    if order == "before":
        CSRFProtect(app)
    KeystileAdmin(store=store, current_admin=lambda: alice, mailer=mailer).init_app(
        app, Admin(app, name="Host")
    )
    if order == "after":
        CSRFProtect(app)
    return app


def signed_in(app: Flask, workspace: CreatedWorkspace) -> Api:
    api = Api(app.test_client(), workspace.workspace_id)
    assert api.page().status_code == 200 and api.csrf
    return api


@pytest.mark.parametrize("order", ORDERS)
def test_the_hosts_own_routes_are_checked_as_the_host_asked(
    store: PolicyStore,
    mailer: SmtpMailer,
    alice: AdminIdentity,
    workspace: CreatedWorkspace,
    order: str,
) -> None:
    api = signed_in(host_app(store, mailer, alice, order), workspace)
    unprotected = api.client.post("/host-form")
    if order == "none":  # no Flask-WTF: the host's routes behave as before
        assert unprotected.status_code == 200
    else:  # CSRFProtect, in either order: a forged post is refused
        assert unprotected.status_code == 400
    # The page's token is a valid Flask-WTF token for the host's forms too.
    with_token = api.client.post("/host-form", headers={"X-CSRFToken": api.csrf})
    assert with_token.get_data(as_text=True) == "ok"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("method", "path", "body"), UNSAFE)
def test_the_plugins_routes_are_checked_in_every_set_up(
    store: PolicyStore,
    mailer: SmtpMailer,
    alice: AdminIdentity,
    workspace: CreatedWorkspace,
    order: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    api = signed_in(host_app(store, mailer, alice, order), workspace)
    response = call(api, method, path, body, {})
    assert response.status_code == 400 and response.get_json()["code"] == "csrf"
    assert store.publishable_key(workspace.workspace_id) == workspace.publishable_key


@pytest.mark.parametrize("order", ORDERS)
def test_delete_is_checked_when_the_host_checks_only_post(
    store: PolicyStore,
    mailer: SmtpMailer,
    alice: AdminIdentity,
    workspace: CreatedWorkspace,
    order: str,
) -> None:
    ws = workspace.workspace_id
    rule = Rule("projects", "create")
    store.add_rule(ws, rule, actor="test")
    app = host_app(store, mailer, alice, order, WTF_CSRF_METHODS=["POST"])
    api = signed_in(app, workspace)
    forged = api.delete("api/rules/projects/create", csrf=False)
    assert forged.status_code == 400 and forged.get_json()["code"] == "csrf"
    assert store.list_rules(ws) == [rule]
    assert api.delete("api/rules/projects/create").status_code == 200
    assert store.list_rules(ws) == []


def test_the_host_config_is_left_alone(
    store: PolicyStore, mailer: SmtpMailer, alice: AdminIdentity
) -> None:
    app = host_app(store, mailer, alice, "none")
    assert "WTF_CSRF_CHECK_DEFAULT" not in app.config
    assert "csrf" not in app.extensions
