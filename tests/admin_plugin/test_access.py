"""Access and safety: who may use the page, CSRF on every unsafe route, workspace choice,
errors as problem documents, and how a host app mounts the plugin."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from flask import Flask
from flask_admin import Admin
from flask_wtf.csrf import CSRFProtect
from redis.backoff import NoBackoff
from redis.retry import Retry

from admin_plugin import AdminIdentity, KeystileAdmin, SmtpMailer, TokensView
from admin_plugin.extension import KeystileState
from policies import PolicyStore
from policies.errors import ConfigError
from policies.storage.values import CreatedWorkspace
from tests.support.admin import (
    ALICE_EMAIL,
    BASE,
    HOST_SECRET,
    Api,
    Inbox,
    Who,
    make_host_app,
)

UNSAFE: list[tuple[str, str, Any]] = [
    ("POST", "api/otp", {"action": "sdk_key.reveal"}),
    ("POST", "api/sdk-key/reveal", {"code": "123456"}),
    ("POST", "api/sdk-key/roll", {"code": "123456"}),
    ("POST", "api/sdk-key/restrict", {"networks": "10.0.0.0/8", "code": "123456"}),
    ("POST", "api/publishable-key/rotate", {}),
    ("POST", "api/rules", {"module": "projects", "functionality": "create"}),
    ("DELETE", "api/rules/projects/create", None),
    ("POST", "api/tokens", {"name": "ci"}),
    ("DELETE", "api/tokens/0123456789ab", None),
    ("POST", "api/secrets", {"name": "A", "value": "b"}),
    ("POST", "api/secrets/reveal", {"name": "A", "code": "123456"}),
    ("DELETE", "api/secrets/A", None),
    ("POST", "api/limits", {"key": "publishable", "scope": "*", "limits": "100/min"}),
    ("DELETE", "api/limits/publishable/*", None),
    ("POST", "api/lifetime-policy", {"max_token_days": 30}),
    ("POST", "api/tokens/revoke-unused", {"days": 90, "key_ids": ["0123456789ab"]}),
    ("POST", "api/leak-policy", {"sdk": "notify", "tokens": "notify"}),
    ("POST", "api/notify/endpoint", {"url": "https://hooks.example.com/", "code": "123456"}),
    ("DELETE", "api/notify/endpoint", None),
    ("POST", "api/notify/secret", {"code": "123456"}),
    ("POST", "api/notify/emails", {"emails": "a@b.test", "code": "123456"}),
    ("POST", "api/notify/test", {"code": "123456"}),
]
SAFE: list[tuple[str, str, Any]] = [
    ("GET", "api/catalog", None),
    ("GET", "api/usage", None),
    ("GET", "api/usage/impact", None),
    ("GET", "panel/lifetime", None),
] + [
    ("GET", f"panel/{name}", None)
    for name in ("tokens", "secrets", "rules", "audit", "pk-limits", "sk-limits", "notify")
]


def call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    url = f"{BASE}{path}?ws={api.ws}"
    if method == "POST":
        return api.client.post(url, json=body, headers=headers)
    if method == "DELETE":
        return api.client.delete(url, headers=headers)
    return api.client.get(url, headers=headers)


def test_the_lists_above_cover_every_route(app: Flask) -> None:
    """So that the CSRF and access tests below really cover every route."""
    routes = {
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("keystile_tokens.") and rule.endpoint != "keystile_tokens.index"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    adapter = app.url_map.bind("localhost")
    listed = {(m, adapter.match(BASE + p, method=m)[0]) for m, p, _ in UNSAFE + SAFE}
    assert listed == routes


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE)
def test_every_unsafe_route_needs_the_csrf_token(
    api: Api,
    inbox: Inbox,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    method: str,
    path: str,
    body: Any,
) -> None:
    for headers in ({}, {"X-CSRFToken": "forged"}):
        response = call(api, method, path, body, headers)
        assert response.status_code == 400, (path, response.get_data(as_text=True))
        problem = response.get_json()
        assert response.mimetype == "application/problem+json"
        assert problem["type"] == "urn:keystile:problem:csrf"
        assert "Reload the page" in problem["detail"]
    assert inbox.is_empty()
    assert store.publishable_key(workspace.workspace_id) == workspace.publishable_key
    assert store.list_tokens(workspace.workspace_id) == []
    assert store.limits.by_owner(workspace.workspace_id) == {}


def test_csrf_token_from_another_session_is_refused(app: Flask, api: Api) -> None:
    other = Api(app.test_client(), api.ws)
    other.page()
    response = other.client.post(
        f"{BASE}api/publishable-key/rotate?ws={api.ws}", json={}, headers={"X-CSRFToken": api.csrf}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(("method", "path", "body"), UNSAFE + SAFE)
def test_nobody_signed_in_gets_403_everywhere(
    api: Api, who: Who, method: str, path: str, body: Any
) -> None:
    who.admin = None
    response = call(api, method, path, body, {"X-CSRFToken": api.csrf})
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert "Sign in" in response.get_json()["detail"]


def test_nobody_signed_in_cannot_open_the_page_nor_see_the_menu(api: Api, who: Who) -> None:
    who.admin = None
    assert api.client.get(BASE).status_code == 403
    assert 'href="/admin/tokens/"' not in api.client.get("/admin/").get_data(as_text=True)


def test_login_url_redirects_a_signed_out_visitor(
    store: PolicyStore, mailer: SmtpMailer, workspace: CreatedWorkspace
) -> None:
    app = make_host_app(store, Who(None), mailer, login_url="/login")
    response = app.test_client().get(BASE + "?ws=" + workspace.workspace_id)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=%2Fadmin%2Ftokens%2F%3Fws%3D")


def test_host_can_tighten_is_accessible(
    store: PolicyStore, mailer: SmtpMailer, alice: AdminIdentity
) -> None:
    class OwnersOnly(TokensView):
        def is_accessible(self) -> bool:
            admin = self.identity()
            return admin is not None and admin.email.endswith("@owners.test")

    app = make_host_app(store, Who(alice), mailer, view_class=OwnersOnly, login_url="/login")
    client = app.test_client()
    assert client.get(BASE).status_code == 403  # signed in already: no login redirect
    response = client.get(f"{BASE}api/catalog?ws={alice.workspaces[0]}")
    assert response.status_code == 403
    assert response.get_json()["detail"] == "Your account may not use the Tokens page."


def test_workspace_of_someone_else_is_refused(api: Api, store: PolicyStore, inbox: Inbox) -> None:
    foreign = store.create_workspace("Not yours", actor="test")
    api.ws = foreign.workspace_id
    response = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert response.status_code == 403 and "do not manage" in response.get_json()["detail"]
    assert api.post("api/publishable-key/rotate").status_code == 403
    assert store.publishable_key(foreign.workspace_id) == foreign.publishable_key
    page = api.client.get(f"{BASE}?ws={foreign.workspace_id}")
    assert page.status_code == 403 and foreign.publishable_key not in page.get_data(as_text=True)
    assert inbox.is_empty()


def test_missing_workspace_parameter(api: Api) -> None:
    response = api.client.get(f"{BASE}api/catalog")
    assert response.status_code == 400 and "which workspace" in response.get_json()["detail"]


def test_admin_with_several_workspaces_picks_one(
    api: Api, who: Who, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    second = store.create_workspace("Staging", actor="test")
    who.admin = AdminIdentity("alice", ALICE_EMAIL, (workspace.workspace_id, second.workspace_id))
    html = api.client.get(BASE).get_data(as_text=True)
    assert 'id="ks-workspace"' in html and ">Staging</option>" in html and ">Acme</option>" in html
    assert f'value="{workspace.publishable_key}"' in html  # the first, at first
    html = api.client.get(f"{BASE}?ws={second.workspace_id}").get_data(as_text=True)
    assert f'value="{second.publishable_key}"' in html
    # The choice is remembered for the next visit.
    html = api.client.get(BASE).get_data(as_text=True)
    assert f'value="{second.publishable_key}"' in html


def test_admin_without_workspaces_is_told_so(api: Api, who: Who) -> None:
    who.admin = AdminIdentity("carol", "carol@acme.test", ())
    response = api.client.get(BASE)
    assert response.status_code == 200
    assert "You manage no workspace yet" in response.get_data(as_text=True)


def test_workspace_that_does_not_exist(api: Api, who: Who) -> None:
    who.admin = AdminIdentity("alice", ALICE_EMAIL, ("ws_AAAAAAAAAAAA",))
    response = api.client.get(BASE)
    assert response.status_code == 404
    assert "does not exist" in response.get_data(as_text=True)


def test_store_down_is_a_clear_503(api: Api, store: PolicyStore, redis_client: redis.Redis) -> None:
    # Nothing listens there; no retries, so the test does not wait out a backoff.
    store.client = redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    page = api.client.get(BASE)
    assert page.status_code == 503 and "cannot be reached" in page.get_data(as_text=True)
    response = api.post("api/publishable-key/rotate")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert "nothing was changed" in response.get_json()["detail"]


def test_unexpected_error_is_a_problem_without_traceback(
    api: Api, store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> str:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "rotate_publishable_key", explode)
    response = api.post("api/publishable-key/rotate")
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    body = response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body


def test_no_answer_of_the_plugin_may_be_framed(api: Api, who: Who) -> None:
    answers = [
        api.page(),
        api.get("api/catalog"),
        api.get("panel/audit"),
        api.post("api/rules", {"module": "projects", "functionality": "create"}),
        api.post("api/publishable-key/rotate", csrf=False),  # a problem document
        api.client.get("/keystile-admin/static/keystile/tokens.js"),
    ]
    who.admin = None
    answers.append(api.client.get(BASE))  # refused
    for response in answers:
        assert response.headers["X-Frame-Options"] == "DENY", response.request.path
        policy = response.headers["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["script-src"] == ["'self'"]  # no inline script anywhere
        assert directives["object-src"] == ["'none'"]


def test_every_answer_is_uncacheable(api: Api) -> None:
    for response in (api.page(), api.get("api/catalog"), api.get("panel/audit")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_mounting_on_a_host_app(
    store: PolicyStore, mailer: SmtpMailer, alice: AdminIdentity
) -> None:
    app = Flask("host")
    app.secret_key = HOST_SECRET

    @app.post("/host-form")
    def host_form() -> str:
        return "ok"

    view = KeystileAdmin(store=store, current_admin=lambda: alice, mailer=mailer).init_app(app)
    state = app.extensions["keystile"]
    assert isinstance(state, KeystileState) and state.view is view and state.store is store
    client = app.test_client()
    assert client.get("/admin/tokens/").status_code == 200
    assert client.get("/keystile-admin/static/keystile/tokens.js").status_code == 200
    # The host's own routes keep working as before: no global CSRF switched on
    # (tests/admin_plugin/test_host_csrf.py: with CSRFProtect, before or after).
    assert client.post("/host-form").get_data(as_text=True) == "ok"
    with pytest.raises(ConfigError, match="already"):
        KeystileAdmin(store=store, current_admin=lambda: alice, mailer=mailer).init_app(app)


def test_host_with_global_csrf_gets_problem_json_too(
    store: PolicyStore, mailer: SmtpMailer, alice: AdminIdentity, workspace: CreatedWorkspace
) -> None:
    app = Flask("host")
    app.secret_key = HOST_SECRET
    CSRFProtect(app)
    admin = Admin(app, name="Host")
    KeystileAdmin(store=store, current_admin=lambda: alice, mailer=mailer).init_app(app, admin)
    response = app.test_client().post(
        f"/admin/tokens/api/publishable-key/rotate?ws={workspace.workspace_id}", json={}
    )
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:keystile:problem:csrf"


@pytest.mark.parametrize("secret", [None, "", "k", "x" * 31, b"x" * 31])
def test_a_secret_key_of_32_characters_is_required(
    store: PolicyStore, mailer: SmtpMailer, secret: str | bytes | None
) -> None:
    app = Flask("h")
    app.secret_key = secret
    with pytest.raises(ConfigError, match=r"SECRET_KEY .*at least 32 characters"):
        KeystileAdmin(store=store, current_admin=lambda: None, mailer=mailer).init_app(app)
    assert "keystile" not in app.extensions


def test_a_secret_key_of_32_characters_is_enough(store: PolicyStore, mailer: SmtpMailer) -> None:
    app = Flask("h")
    app.secret_key = "x" * 32
    KeystileAdmin(store=store, current_admin=lambda: None, mailer=mailer).init_app(app)
    assert "keystile" in app.extensions


def test_audit_panel_shows_changes_and_failed_codes(
    api: Api, inbox: Inbox, workspace: CreatedWorkspace
) -> None:
    api.post("api/otp", {"action": "sdk_key.reveal"})
    api.post(
        "api/sdk-key/reveal", {"code": "000000" if inbox.next_code() != "000000" else "111111"}
    )
    api.post("api/publishable-key/rotate")
    panel = api.get("panel/audit").get_data(as_text=True)
    for action in ("otp.sent", "otp.failed", "publishable_key.rotated", "workspace.created"):
        assert f"<code>{action}</code>" in panel
    assert "admin:alice@acme.test" in panel and "<dt>reason</dt><dd>wrong</dd>" in panel
