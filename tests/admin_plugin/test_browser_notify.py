"""Security notifications in Chromium: set the webhook endpoint through the one-time
password flow, see its signing secret once, send a test event that a real receiver
verifies, and see the failure shown when the receiver is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect
from werkzeug.serving import make_server

from admin_plugin import AdminIdentity, OtpPolicy, SmtpMailer
from keystile.redis_server import free_port
from policies import Catalog, Keyring, PolicyStore
from policies.notify.endpoints import EndpointPolicy
from tests.admin_plugin.test_browser import Live, page, shot, shots
from tests.support.admin import ALICE_EMAIL, Inbox, Who, make_host_app
from tests.support.browser import chromium
from tests.support.webhooks import Receiver

__all__ = ["page", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def live(
    redis_url: str,
    redis_client: redis.Redis,
    master_key: str,
    digest_secret: str,
    catalog: Catalog,
    mailer: SmtpMailer,
    inbox: Inbox,
) -> Iterator[Live]:
    """The host app alone (no gateway: nothing here goes through one), its webhooks allowed
    to the local receiver."""
    keyring = Keyring([master_key], digest_secret)
    store = PolicyStore(redis_client, keyring, clock=time.time)
    store.save_catalog(catalog)
    workspace = store.create_workspace("Acme Production", actor="test")
    alice = AdminIdentity("alice", ALICE_EMAIL, (workspace.workspace_id,), name="Alice")
    app = make_host_app(
        store,
        Who(alice),
        mailer,
        otp=OtpPolicy(cooldown_seconds=1),
        endpoints=EndpointPolicy(("127.0.0.1",)),
    )
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        yield Live(url, store, workspace, inbox, redis_url, keyring, "")
    finally:
        server.shutdown()
        thread.join(5)


def verify(page: Page, live: Live, purpose: str) -> None:
    modal = page.locator("#ks-otp-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#ks-otp-purpose")).to_contain_text(purpose)
    modal.locator("#ks-otp-code").fill(live.inbox.next_code(to=ALICE_EMAIL))
    modal.get_by_role("button", name="Verify").click()
    expect(modal).to_be_hidden()


def test_endpoint_secret_once_test_event_and_a_failure_shown(
    page: Page, live: Live, shots: Path
) -> None:
    receiver = Receiver().start()
    try:
        page.goto(live.url + "/admin/tokens/")
        section = page.locator("#ks-notify")
        section.scroll_into_view_if_needed()
        expect(page.locator("#ks-notify-endpoint")).to_have_text("none")
        page.locator("#ks-notify-url").fill(receiver.url)
        page.locator("#ks-notify-save").click()
        verify(page, live, "set the webhook endpoint to " + receiver.url)
        secret_field = page.locator("#ks-notify-secret")
        expect(secret_field).to_be_visible()
        receiver.secret = secret_field.input_value()
        assert receiver.secret.startswith("whsec_")
        expect(page.locator("#ks-notify-endpoint")).to_have_text(receiver.url)
        shot(page, shots / "30-notify-endpoint.png")

        page.locator("#ks-notify-test").click()
        verify(page, live, "send a test event")
        expect(page.locator("#ks-flash")).to_contain_text("Test event delivered")
        [got] = receiver.take(1)
        assert got.event["type"] == "webhook.test" and receiver.forged == 0

        receiver.stop()  # the receiver goes down
        page.locator("#ks-notify-test").click()
        verify(page, live, "send a test event")
        expect(page.locator("#ks-flash")).to_contain_text("Test event not delivered")
        expect(page.locator("#ks-notify-last-test")).to_contain_text("connection refused")
        shot(page, shots / "31-notify-test-failed.png")

        page.reload()  # shown once: the secret is nowhere on the page any more
        assert receiver.secret not in page.content()
        expect(page.locator("#ks-notify-secret-box")).to_be_hidden()

        page.locator("#ks-notify-remove").click()
        page.locator("#ks-confirm-modal").get_by_role("button", name="Stop webhooks").click()
        expect(page.locator("#ks-notify-endpoint")).to_have_text("none")
    finally:
        receiver.stop()
