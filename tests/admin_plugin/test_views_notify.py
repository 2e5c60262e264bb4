"""Security notifications on the Tokens page: each change that sends data out needs a code
bound to it, the secret is answered once, a test event is signed and its outcome shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from admin_plugin import SmtpMailer
from keystile.notify.config import NotifyOptions
from keystile.notify.worker import NotifyWorker
from policies import PolicyStore
from policies.notify.endpoints import EndpointPolicy
from policies.operations import notify
from policies.storage.values import CreatedWorkspace
from tests.support.admin import ALICE_EMAIL, Api, Inbox, Who, make_host_app
from tests.support.clock import ManualClock
from tests.support.webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def app(store: PolicyStore, who: Who, mailer: SmtpMailer, inbox: Inbox) -> Flask:
    return make_host_app(store, who, mailer, endpoints=EndpointPolicy(("127.0.0.1",)))


def code_for(api: Api, inbox: Inbox, **body: object) -> str:
    assert api.post("api/otp", body).status_code == 202
    return inbox.next_code(ALICE_EMAIL)


def test_endpoint_needs_a_code_bound_to_its_url_and_the_secret_is_shown_once(
    api: Api,
    inbox: Inbox,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    refused = api.post("api/notify/endpoint", {"url": receiver.url})
    assert refused.status_code == 403 and refused.json["code"] == "otp_required"
    code = code_for(api, inbox, action="notify.endpoint", url=receiver.url)
    other = api.post("api/notify/endpoint", {"url": receiver.url + "x", "code": code})
    assert other.status_code == 403  # the code was sent for another URL
    answer = api.post("api/notify/endpoint", {"url": receiver.url, "code": code})
    assert answer.status_code == 201
    receiver.secret = answer.json["secret"]
    assert receiver.secret.startswith("whsec_")
    page = api.page().get_data(as_text=True)
    assert receiver.url in page and receiver.secret not in page
    code = code_for(api, inbox, action="notify.test")
    tested = api.post("api/notify/test", {"code": code})
    assert tested.json["delivered"] is True
    [got] = receiver.take(1)
    assert got.event["type"] == "webhook.test" and got.event["data"]["workspace_id"] == ws
    receiver.stop()
    clock.advance(120)  # past the resend cooldown
    code = code_for(api, inbox, action="notify.test")
    failed = api.post("api/notify/test", {"code": code}).json
    assert failed["delivered"] is False and "refused" in failed["detail"]
    panel = api.get("panel/notify").get_data(as_text=True)
    assert "failed" in panel and "refused" in panel
    actions = [e.action for e in store.audit_tail(ws, 50)]
    assert actions.count("notify.test_sent") == 2 and "notify.endpoint_set" in actions


def test_private_endpoints_are_refused_before_a_code_is_sent(
    store: PolicyStore, who: Who, mailer: SmtpMailer, inbox: Inbox, workspace: CreatedWorkspace
) -> None:
    strict = make_host_app(store, who, mailer)  # no allow list: the default
    api = Api(strict.test_client(), workspace.workspace_id)
    api.page()
    for url in ("http://127.0.0.1:9/h", "https://169.254.169.254/latest", "https://10.0.0.1/"):
        answer = api.post("api/otp", {"action": "notify.endpoint", "url": url})
        assert answer.status_code == 400, url
        assert answer.headers["content-type"] == "application/problem+json"
    assert inbox.is_empty()


def test_emails_and_secret_rotation(
    api: Api, inbox: Inbox, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    emails = "sec@acme.test, ops@acme.test"
    code = code_for(api, inbox, action="notify.emails", emails=emails)
    answer = api.post("api/notify/emails", {"emails": emails, "code": code})
    assert answer.json["emails"] == ["sec@acme.test", "ops@acme.test"]
    assert store.run(notify.settings(store.ctx, ws)).emails == ("sec@acme.test", "ops@acme.test")
    code = code_for(api, inbox, action="notify.secret")
    assert api.post("api/notify/secret", {"code": code}).status_code == 404  # no endpoint
    no_csrf = api.post("api/notify/emails", {"emails": "", "code": "123456"}, csrf=False)
    assert no_csrf.status_code == 400 and no_csrf.json["code"] == "csrf"


def test_delivery_failures_and_dead_letters_show_on_the_page(
    api: Api,
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    policy = EndpointPolicy(("127.0.0.1",))
    receiver.secret = store.run(notify.set_endpoint(store.ctx, ws, receiver.url, policy, actor="t"))
    receiver.stop()
    store.create_token(ws, "ci", actor="test")
    options = NotifyOptions(allow_hosts=["127.0.0.1"], timeout=1, max_attempts=2, lease=10)
    worker = NotifyWorker(store, options)
    worker.tick()
    panel = api.get("panel/notify").get_data(as_text=True)
    row = panel[panel.index('data-channel="webhook"') :]
    assert "failed" in row and "connection refused" in row
    assert "1 waiting" in panel
    clock.advance(10)  # the retry is due (5 s at most, on the store's clock)
    worker.tick()  # the second and last try
    panel = api.get("panel/notify").get_data(as_text=True)
    assert "1 failed for good" in panel and "token.created" in panel


def test_damaged_notification_settings_still_show_the_panel(
    api: Api, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """A hand-edited or half-restored notify hash (the addresses, a dead letter): the panel
    shows what it can, not a 500; the addresses can then be set again."""
    ws = workspace.workspace_id
    store.client.hset(f"ks:{{{ws}}}:notify", "emails", "not json")
    store.client.lpush(f"ks:{{{ws}}}:notify:dead", "not json either")
    answer = api.get("panel/notify")
    assert answer.status_code == 200
    assert store.run(notify.settings(store.ctx, ws)).emails == ()
