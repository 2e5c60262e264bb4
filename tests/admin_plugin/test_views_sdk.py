"""The SDK Access Key tab through Flask's test client: one-time passwords, reveal, roll."""

from __future__ import annotations

import pytest
import redis
from flask import Flask

from admin_plugin import AdminIdentity, OtpPolicy, SmtpConfig, SmtpMailer
from keystile.redis_server import free_port
from policies import PolicyStore
from policies.storage.values import CreatedWorkspace
from tests.support.admin import (
    ALICE_EMAIL,
    Api,
    Inbox,
    Who,
    code_in,
    gateway_lookup,
    make_host_app,
)
from tests.support.clock import ManualClock

PROBLEM = "application/problem+json"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def send(api: Api, action: str = "sdk_key.reveal", **extra: str) -> dict[str, object]:
    response = api.post("api/otp", {"action": action, **extra})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def test_page_shows_the_key_masked_and_never_whole(api: Api, workspace: CreatedWorkspace) -> None:
    response = api.page()
    html = response.get_data(as_text=True)
    assert f"sk_{'•' * 12}{workspace.sdk_key[-4:]}" in html
    assert workspace.sdk_key not in html
    assert response.headers["Cache-Control"] == "no-store"
    for tab in ("Tokens", "SDK Access Key", "Publishable Key", "Reveal Key"):
        assert f">{tab}<" in html or f"{tab}</button>" in html


def test_reveal_mails_a_code_and_the_code_reveals_the_key(
    api: Api, inbox: Inbox, workspace: CreatedWorkspace, store: PolicyStore
) -> None:
    sent = send(api)
    assert sent == {"sent_to": "a•••@acme.test", "expires_in": 600, "resend_after": 60}
    message = inbox.next()
    assert message["To"] == ALICE_EMAIL and message["Subject"] == "Keystile verification code"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "reveal the SDK access key" in text and '"Acme"' in text and "10 minutes" in text
    code = code_in(text)
    assert code not in message["Subject"]
    response = api.post("api/sdk-key/reveal", {"code": code})
    assert response.status_code == 200
    assert response.get_json() == {"key": workspace.sdk_key}
    assert response.headers["Cache-Control"] == "no-store"
    assert [e.action for e in store.audit_tail(workspace.workspace_id, 2)] == [
        "sdk_key.revealed",
        "otp.sent",
    ]


def test_wrong_code_says_how_many_attempts_are_left(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    send(api)
    code = inbox.next_code()
    response = api.post("api/sdk-key/reveal", {"code": wrong(code)})
    assert response.status_code == 403 and response.mimetype == PROBLEM
    problem = response.get_json()
    assert problem["type"] == "urn:keystile:problem:otp_rejected"
    assert problem["detail"] == "That code is not correct: 4 attempts left."
    assert problem["attempts_left"] == 4 and problem["reason"] == "wrong"
    assert "key" not in problem
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "otp.failed"
    assert api.post("api/sdk-key/reveal", {"code": code}).status_code == 200


def test_sixth_try_finds_the_code_void(api: Api, inbox: Inbox) -> None:
    send(api)
    code = inbox.next_code()
    details = [api.post("api/sdk-key/reveal", {"code": wrong(code)}).get_json() for _ in range(5)]
    assert [d["attempts_left"] for d in details[:4]] == [4, 3, 2, 1]
    assert details[4]["reason"] == "void" and "now void" in details[4]["detail"]
    sixth = api.post("api/sdk-key/reveal", {"code": code})
    assert sixth.status_code == 403 and sixth.get_json()["reason"] == "missing"


def test_expired_code(api: Api, inbox: Inbox, clock: ManualClock) -> None:
    send(api)
    code = inbox.next_code()
    clock.advance(601)
    response = api.post("api/sdk-key/reveal", {"code": code})
    assert response.status_code == 403
    assert response.get_json()["reason"] == "expired"
    assert "expired" in response.get_json()["detail"]


def test_reused_code(api: Api, inbox: Inbox) -> None:
    send(api)
    code = inbox.next_code()
    assert api.post("api/sdk-key/reveal", {"code": code}).status_code == 200
    again = api.post("api/sdk-key/reveal", {"code": code})
    assert again.status_code == 403 and again.get_json()["reason"] == "missing"


def test_code_of_another_admin_unlocks_nothing(
    api: Api, inbox: Inbox, who: Who, workspace: CreatedWorkspace
) -> None:
    alice = who.admin
    send(api)
    alices_code = inbox.next_code(to=ALICE_EMAIL)
    who.admin = AdminIdentity("bob", "bob@acme.test", (workspace.workspace_id,))
    stolen = api.post("api/sdk-key/reveal", {"code": alices_code})
    assert stolen.status_code == 403 and stolen.get_json()["reason"] == "missing"
    who.admin = alice
    assert api.post("api/sdk-key/reveal", {"code": alices_code}).status_code == 200


def test_code_for_another_action_unlocks_nothing(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    send(api)  # for sdk_key.reveal
    code = inbox.next_code()
    roll = api.post("api/sdk-key/roll", {"code": code, "grace_seconds": 0})
    assert roll.status_code == 403 and roll.get_json()["reason"] == "missing"
    store.secrets.put(workspace.workspace_id, "DB", "postgres://x", actor="test")
    secret = api.post("api/secrets/reveal", {"name": "DB", "code": code})
    assert secret.status_code == 403 and secret.get_json()["reason"] == "missing"
    assert store.masked_sdk_key(workspace.workspace_id).endswith(workspace.sdk_key[-4:])


def test_malformed_code_costs_no_attempt(api: Api, inbox: Inbox) -> None:
    send(api)
    code = inbox.next_code()
    for typed in ("12345", "abcdef", "", None, 123456):
        response = api.post("api/sdk-key/reveal", {"code": typed})
        assert response.status_code == 400
        assert response.get_json()["detail"] == "Enter the 6-digit code from the email."
    assert api.post("api/sdk-key/reveal", {"code": f"{code[:3]} {code[3:]}"}).status_code == 200


def test_resend_waits_for_the_cooldown_then_replaces_the_code(
    api: Api, inbox: Inbox, clock: ManualClock
) -> None:
    send(api)
    first = inbox.next_code()
    clock.advance(15)
    early = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert early.status_code == 429 and early.mimetype == PROBLEM
    assert early.get_json()["retry_after"] == 45 and early.headers["Retry-After"] == "45"
    assert inbox.is_empty()
    clock.advance(45)
    send(api)
    second = inbox.next_code()
    if first != second:
        assert api.post("api/sdk-key/reveal", {"code": first}).get_json()["reason"] == "wrong"
    assert api.post("api/sdk-key/reveal", {"code": second}).status_code == 200


def test_hourly_cap(api: Api, inbox: Inbox, clock: ManualClock) -> None:
    for _ in range(10):
        send(api)
        clock.advance(61)
    capped = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert capped.status_code == 429 and capped.get_json()["reason"] == "hourly_cap"
    assert "last hour" in capped.get_json()["detail"]


def test_smtp_down_is_clear_and_leaves_no_challenge(
    store: PolicyStore,
    who: Who,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    mailer: SmtpMailer,
) -> None:
    down = SmtpMailer(SmtpConfig(sender="k@acme.test", host="127.0.0.1", port=free_port()))
    api = Api(make_host_app(store, who, down).test_client(), workspace.workspace_id)
    api.page()
    response = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert response.status_code == 502 and response.mimetype == PROBLEM
    assert response.get_json()["detail"] == (
        "The code could not be sent: the mail server cannot be reached. "
        "Try again later or tell your operator."
    )
    assert list(redis_client.scan_iter("ks:*:otp:challenge:*")) == []
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "otp.mail_failed"
    # Once mail works again, the admin can ask at once: the failed send left no cooldown.
    api.client.application.extensions["keystile"].flow.mailer = mailer
    assert api.post("api/otp", {"action": "sdk_key.reveal"}).status_code == 202


class BrokenHostMailer:
    """A host's own Mailer with a bug: raises what the email package raises on CR/LF."""

    def send(self, to: str, subject: str, body: str) -> None:
        raise ValueError(f"invalid arguments; cannot mail {body!r}")


def test_any_mailer_failure_cancels_the_challenge(
    api: Api,
    app: Flask,
    mailer: SmtpMailer,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    flow = app.extensions["keystile"].flow
    flow.mailer = BrokenHostMailer()
    response = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert response.status_code == 502 and response.get_json()["code"] == "mail_failed"
    assert list(redis_client.scan_iter("ks:*:otp:challenge:*")) == []
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "otp.mail_failed"
    assert all(r.exc_info is None for r in caplog.records)  # args hold the code: not logged
    flow.mailer = mailer  # fixed: no cooldown left behind by the failed send
    assert api.post("api/otp", {"action": "sdk_key.reveal"}).status_code == 202


def test_an_admin_email_with_crlf_is_refused_before_any_code(
    store: PolicyStore,
    mailer: SmtpMailer,
    inbox: Inbox,
    redis_client: redis.Redis,
    workspace: CreatedWorkspace,
) -> None:
    bad = {
        "id": "alice",
        "email": "alice@acme.test\r\nBcc: evil@attacker.test",
        "workspaces": [workspace.workspace_id],
    }
    api = Api(make_host_app(store, lambda: bad, mailer).test_client(), workspace.workspace_id)
    response = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert response.status_code == 500 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == "misconfigured"
    assert "not one address" in response.get_json()["detail"]
    assert inbox.is_empty()
    assert list(redis_client.scan_iter("ks:*:otp:*")) == []


def test_smtp_refusal_is_clear(api: Api, inbox: Inbox) -> None:
    inbox.refuse_with = "550 5.1.1 no such user"
    response = api.post("api/otp", {"action": "sdk_key.reveal"})
    assert response.status_code == 502
    assert "refused the address (SMTP 550)" in response.get_json()["detail"]


def test_roll_with_a_grace_period(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    send(api, "sdk_key.roll")
    text = inbox.next_text()
    assert "roll (replace) the SDK access key" in text
    code = code_in(text)
    response = api.post("api/sdk-key/roll", {"code": code, "grace_seconds": 3600})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["key"] != workspace.sdk_key and body["masked"].endswith(body["key"][-4:])
    assert body["old_key_valid_until"] == clock() + 3600
    old = gateway_lookup(store, workspace.sdk_key)
    assert old is not None and old.expires == clock() + 3600
    assert gateway_lookup(store, body["key"]) is not None
    assert store.audit_tail(workspace.workspace_id, 1)[0].action == "sdk_key.rolled"


def test_roll_without_grace_kills_the_old_key(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    send(api, "sdk_key.roll")
    body = api.post("api/sdk-key/roll", {"code": inbox.next_code()}).get_json()
    assert body["old_key_valid_until"] is None
    assert gateway_lookup(store, workspace.sdk_key) is None


@pytest.mark.parametrize("grace", [-1, 8 * 86400, "3600", True, 1.5])
def test_bad_grace_is_refused_before_the_code_is_spent(
    api: Api, inbox: Inbox, grace: object
) -> None:
    send(api, "sdk_key.roll")
    code = inbox.next_code()
    response = api.post("api/sdk-key/roll", {"code": code, "grace_seconds": grace})
    assert response.status_code == 400 and "grace period" in response.get_json()["detail"]
    assert api.post("api/sdk-key/roll", {"code": code}).status_code == 200


def test_unknown_action_and_bad_body(api: Api, inbox: Inbox) -> None:
    unknown = api.post("api/otp", {"action": "everything"})
    assert unknown.status_code == 400 and "Unknown action" in unknown.get_json()["detail"]
    response = api.client.post(
        f"/admin/tokens/api/otp?ws={api.ws}",
        data="not json",
        headers={"X-CSRFToken": api.csrf, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.get_json()["detail"] == "Send a JSON object."
    assert inbox.is_empty()


def test_otp_settings_are_configurable(
    store: PolicyStore, who: Who, mailer: SmtpMailer, inbox: Inbox, workspace: CreatedWorkspace
) -> None:
    app: Flask = make_host_app(store, who, mailer, otp=OtpPolicy(ttl_seconds=120))
    api = Api(app.test_client(), workspace.workspace_id)
    api.page()
    assert send(api)["expires_in"] == 120
    assert "2 minutes" in inbox.next_text()
