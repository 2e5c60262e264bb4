"""The Tokens tab through Flask's test client: workspace tokens and secrets."""

from __future__ import annotations

import threading
from html.parser import HTMLParser

import pytest
from flask import Flask

from admin_plugin import AdminIdentity
from policies import PolicyStore, Rule
from policies.operations import lookup as store_lookup
from policies.storage.values import CreatedWorkspace
from tests.support.admin import Api, Inbox, Who, gateway_lookup
from tests.support.clock import ManualClock

XSS = "<script>alert('x')</script>\"'&"


def create(api: Api, inbox: Inbox, **body: object) -> dict[str, object]:
    """Create a token as the page does: check the form, mail a code, send form and code."""
    form = {"name": "ci", **body}
    checked = api.post("api/tokens", form)
    assert checked.status_code == 403 and checked.get_json()["code"] == "otp_required"
    assert api.post("api/otp", {"action": "token.create", **form}).status_code == 202
    response = api.post("api/tokens", {**form, "code": inbox.next_code()})
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def test_create_token_shown_once(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    created = create(api, inbox, name="nightly-export")
    token = str(created["token"])
    assert token.startswith("tk_") and created["name"] == "nightly-export"
    assert created["expires"] is None and created["rules"] == []
    policy = gateway_lookup(store, token)
    assert policy is not None and policy.key_id == created["key_id"]
    # Never again: not in the page, not in the list.
    assert token not in api.page().get_data(as_text=True)
    panel = api.get("panel/tokens").get_data(as_text=True)
    assert token not in panel and str(created["key_id"]) in panel
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "token.created"


def test_token_expiry_in_days_or_on_a_date(api: Api, clock: ManualClock, inbox: Inbox) -> None:
    assert create(api, inbox, expires_in_days=30)["expires"] == clock() + 30 * 86400
    # 2027-01-15 08:00 UTC is the test clock's now; a date means its midnight, UTC.
    assert create(api, inbox, expires_at="2027-02-01")["expires"] == 1801440000.0
    assert create(api, inbox, expires_at="2027-02-01T12:00:00+01:00")["expires"] == 1801479600.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"expires_in_days": 0}, "whole number from 1 to 3650"),
        ({"expires_in_days": "30"}, "whole number from 1 to 3650"),
        ({"expires_at": "yesterday"}, "must look like 2030-01-31"),
        ({"expires_at": "2020-01-01"}, "must be in the future"),
        ({"expires_in_days": 3, "expires_at": "2030-01-01"}, "not both"),
        ({"rules": "projects:create"}, "Rules must be a list"),
        ({"name": ""}, "Token name is required."),
        ({"name": "x" * 101}, "1-100 printable characters"),
        ({"name": "line\nbreak"}, "1-100 printable characters"),
    ],
)
def test_token_input_errors_are_explained(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, body: dict[str, object], message: str
) -> None:
    response = api.post("api/tokens", {"name": "ci", **body})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert message in response.get_json()["detail"]
    assert store.list_tokens(workspace.workspace_id) == []


def test_token_with_a_blacklist(api: Api, store: PolicyStore, inbox: Inbox) -> None:
    created = create(api, inbox, rules=["members:invite", "billing:*"])
    assert created["rules"] == ["billing:*", "members:invite"]
    policy = gateway_lookup(store, str(created["token"]))
    assert policy is not None
    assert policy.rules == frozenset({Rule("members", "invite"), Rule("billing", "*")})
    refused = api.post("api/tokens", {"name": "x", "rules": ["payroll:*"]})
    assert refused.status_code == 422


def test_token_list_columns_and_status(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, inbox: Inbox
) -> None:
    expiring = create(api, inbox, name="short", expires_in_days=1)
    create(api, inbox, name="forever")
    # The gateway records last use; here through its own operation.
    usage = {workspace.workspace_id: {str(expiring["key_id"]): clock()}}
    store.run(store_lookup.touch(store.ctx, usage))
    clock.advance(2 * 86400)
    panel = api.get("panel/tokens").get_data(as_text=True)
    for header in ("Name", "Key ID", "Created", "Expires", "Last used", "Status"):
        assert f"<th>{header}</th>" in panel
    assert "2027-01-15 08:00 UTC" in panel  # created and last used
    assert "2027-01-16 08:00 UTC" in panel  # expires
    assert ">expired</span>" in panel and ">active</span>" in panel
    assert panel.count('data-ks-action="revoke-token"') == 1  # only the active one


def test_revoke_token(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, inbox: Inbox
) -> None:
    created = create(api, inbox)
    response = api.delete(f"api/tokens/{created['key_id']}")
    assert response.status_code == 200 and response.get_json()["status"] == "revoked"
    assert gateway_lookup(store, str(created["token"])) is None
    assert ">revoked</span>" in api.get("panel/tokens").get_data(as_text=True)
    assert api.delete("api/tokens/000000000000").status_code == 404
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "token.revoked"


def test_user_strings_are_escaped_everywhere(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace, who: Who, inbox: Inbox
) -> None:
    created = create(api, inbox, name=XSS)
    assert created["name"] == XSS  # JSON carries it as data; the page's script uses textContent
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&#39;&amp;"
    for html in (
        api.page().get_data(as_text=True),
        api.get("panel/tokens").get_data(as_text=True),
        api.get("panel/audit").get_data(as_text=True),
    ):
        assert "<script>alert" not in html
        assert escaped in html
    # Workspace names are user strings too: the picker and the header escape them.
    hostile = store.create_workspace("<img src=x onerror=alert(1)>", actor="test")
    assert who.admin is not None
    who.admin = AdminIdentity(
        who.admin.id, who.admin.email, (workspace.workspace_id, hostile.workspace_id)
    )
    html = api.page(f"?ws={hostile.workspace_id}").get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_secrets_add_list_reveal_delete(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    added = api.post("api/secrets", {"name": "DATABASE_URL", "value": "postgres://u:pw@db/acme"})
    assert added.status_code == 201
    panel = api.get("panel/secrets").get_data(as_text=True)
    assert 'data-secret="DATABASE_URL"' in panel and "pw@db" not in panel
    assert "pw@db" not in api.page().get_data(as_text=True)

    sent = api.post("api/otp", {"action": "secret.reveal", "name": "DATABASE_URL"})
    assert sent.status_code == 202
    text = inbox.next_text()
    assert "reveal the secret DATABASE_URL" in text
    code = text.split()[text.split().index("is:") + 1]
    revealed = api.post("api/secrets/reveal", {"name": "DATABASE_URL", "code": code})
    assert revealed.status_code == 200 and revealed.headers["Cache-Control"] == "no-store"
    assert revealed.get_json() == {"name": "DATABASE_URL", "value": "postgres://u:pw@db/acme"}
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "secret.revealed"

    deleted = api.delete("api/secrets/DATABASE_URL")
    assert deleted.status_code == 200
    assert store.secrets.names(workspace.workspace_id) == []
    assert api.delete("api/secrets/DATABASE_URL").status_code == 404


def test_secret_reveal_wrong_code_and_other_secret(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    for name in ("A", "B"):
        api.post("api/secrets", {"name": name, "value": f"value-{name}"})
    api.post("api/otp", {"action": "secret.reveal", "name": "A"})
    code = inbox.next_code()
    # A code for secret A does not reveal secret B.
    other = api.post("api/secrets/reveal", {"name": "B", "code": code})
    assert other.status_code == 403 and other.get_json()["reason"] == "missing"
    bad = api.post("api/secrets/reveal", {"name": "A", "code": f"{(int(code) + 1) % 10**6:06d}"})
    assert bad.status_code == 403 and bad.get_json()["attempts_left"] == 4
    assert "value-A" not in bad.get_data(as_text=True)
    assert (
        api.post("api/secrets/reveal", {"name": "A", "code": code}).get_json()["value"] == "value-A"
    )


def test_secret_errors(api: Api, inbox: Inbox) -> None:
    api.post("api/secrets", {"name": "TOKEN", "value": "one"})
    duplicate = api.post("api/secrets", {"name": "TOKEN", "value": "two"})
    assert duplicate.status_code == 409 and "delete it first" in duplicate.get_json()["detail"]
    bad_name = api.post("api/secrets", {"name": "9 lives", "value": "x"})
    assert bad_name.status_code == 400 and "secret name" in bad_name.get_json()["detail"]
    empty = api.post("api/secrets", {"name": "EMPTY", "value": ""})
    assert empty.status_code == 400 and empty.get_json()["detail"] == "Secret value is required."
    missing = api.post("api/otp", {"action": "secret.reveal", "name": "NOPE"})
    assert missing.status_code == 404 and inbox.is_empty()


def test_parallel_adds_of_one_secret_one_wins(
    app: Flask, api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    # Each "tab" its own client and session; all post the same name at once.
    tabs = [Api(app.test_client(), api.ws) for _ in range(8)]
    for tab in tabs:
        tab.page()
    barrier = threading.Barrier(len(tabs))
    statuses: list[int] = []

    def add(tab: Api, n: int) -> None:
        barrier.wait()
        statuses.append(tab.post("api/secrets", {"name": "DB", "value": f"v{n}"}).status_code)

    threads = [threading.Thread(target=add, args=(tab, n)) for n, tab in enumerate(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    assert store.secrets.names(workspace.workspace_id) == ["DB"]


class AuditRows(HTMLParser):
    """The audit panel as data: per row, its action and its details' (dt, dd) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, list[tuple[str, str]]]] = []
        self.tag: str | None = None
        self.pending: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append(("", []))
        self.tag = tag

    def handle_endtag(self, tag: str) -> None:
        self.tag = None

    def handle_data(self, data: str) -> None:
        if not self.rows:
            return
        action, fields = self.rows[-1]
        if self.tag == "code" and not action:
            self.rows[-1] = (data, fields)
        elif self.tag == "dt":
            self.pending = data
        elif self.tag == "dd" and self.pending is not None:
            fields.append((self.pending, data))
            self.pending = None


def test_a_token_name_cannot_forge_an_audit_field(api: Api, inbox: Inbox) -> None:
    forged = "ci, key_id=tk_X"
    created = create(api, inbox, name=forged)
    parser = AuditRows()
    parser.feed(api.get("panel/audit").get_data(as_text=True))
    details = [fields for action, fields in parser.rows if action == "token.created"]
    assert details == [[("key_id", created["key_id"]), ("name", forged)]]


def test_minting_a_token_needs_a_code_for_that_action_once(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """A hijacked session without the mailbox mints nothing (the same proof as Reveal Key)."""
    ws, form = workspace.workspace_id, {"name": "ci"}
    for code in (None, "", "123456"):
        refused = api.post("api/tokens", {**form, "code": code})
        assert refused.status_code == 403, refused.get_json()
        assert "token" not in refused.get_json()
    # A code for another action unlocks nothing here.
    api.post("api/otp", {"action": "sdk_key.reveal"})
    other = api.post("api/tokens", {**form, "code": inbox.next_code()})
    assert other.status_code == 403 and other.get_json()["reason"] == "missing"
    # The form is checked before the code is spent.
    assert api.post("api/otp", {"action": "token.create", **form}).status_code == 202
    text = inbox.next_text()
    assert "create a workspace token" in text
    code = text.split()[text.split().index("is:") + 1]
    bad = api.post("api/tokens", {"name": "", "code": code})
    assert bad.status_code == 400
    assert api.post("api/tokens", {**form, "code": code}).status_code == 201
    replay = api.post("api/tokens", {**form, "code": code})
    assert replay.status_code == 403 and replay.get_json()["reason"] == "missing"
    assert [t.name for t in store.list_tokens(ws)] == ["ci"]


def test_a_token_code_mints_only_the_form_it_was_asked_for(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    """Issue 26.5: a code asked for one form created another token (another name, a
    3,650-day expiry); the mail named no token detail."""
    ws = workspace.workspace_id
    asked = {"name": "ci", "expires_in_days": 30}
    assert api.post("api/otp", {"action": "token.create", **asked}).status_code == 202
    text = inbox.next_text()
    assert '"ci"' in text and "expires 30 days after it is created" in text
    code = text.split()[text.split().index("is:") + 1]
    for other in (
        {"name": "admin", "expires_in_days": 30},
        {"name": "ci", "expires_in_days": 3650},
        {"name": "ci"},
        {**asked, "limits": "1000/s"},
    ):
        refused = api.post("api/tokens", {**other, "code": code})
        assert refused.status_code == 403, refused.get_json()
    assert store.list_tokens(ws) == []
    clock.advance(61)  # past the resend cooldown
    assert api.post("api/otp", {"action": "token.create", **asked}).status_code == 202
    created = api.post("api/tokens", {**asked, "code": inbox.next_code()})
    assert created.status_code == 201 and created.get_json()["name"] == "ci"
    assert [t.name for t in store.list_tokens(ws)] == ["ci"]


def test_a_token_code_needs_a_form_that_works(api: Api, inbox: Inbox) -> None:
    """No code is mailed for a form that cannot be created."""
    refused = api.post("api/otp", {"action": "token.create", "name": ""})
    assert refused.status_code == 400
    assert inbox.is_empty()


def test_a_secret_code_is_bound_to_the_secret_s_version(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    """Issue 26.5: a code for a secret deleted and added again meanwhile revealed the new
    value; it is bound to the version it was sent for."""
    ws = workspace.workspace_id
    store.secrets.put(ws, "API", "first value", actor="t")
    assert api.post("api/otp", {"action": "secret.reveal", "name": "API"}).status_code == 202
    code = inbox.next_code()
    store.secrets.delete(ws, "API", actor="t")
    store.secrets.put(ws, "API", "second value", actor="t")
    refused = api.post("api/secrets/reveal", {"name": "API", "code": code})
    assert refused.status_code == 403, refused.get_json()
    assert "second value" not in refused.get_data(as_text=True)
    clock.advance(61)
    assert api.post("api/otp", {"action": "secret.reveal", "name": "API"}).status_code == 202
    shown = api.post("api/secrets/reveal", {"name": "API", "code": inbox.next_code()})
    assert shown.status_code == 200 and shown.get_json()["value"] == "second value"
