"""The product page's Steps 1-6 and the Tokens tab, in a real Chromium, end to end.

A host app runs in a thread (werkzeug), codes arrive at a real SMTP server, and the demo's
workspace API behind a real gateway (uvicorn, in another thread) shows each change take
effect: the old publishable key refused right after Revoke, a blacklisted action 403 right
after Save ("right after": within the gateway's documented 1 s worst case; pub/sub makes it
milliseconds).
Screenshots go to ``$KEYSTILE_SCREENSHOTS`` (``docs/screenshots`` to refresh the docs'),
else to a temporary folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Dialog, Locator, Page, expect
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse

from admin_plugin import AdminIdentity, OtpPolicy, SmtpMailer
from bench.setup import create_tokens
from gateway import KeyGateMiddleware
from keystile import sample_api
from keystile.redis_server import free_port
from policies import (
    AsyncPolicyStore,
    Catalog,
    InvalidKey,
    KeyPolicy,
    Keyring,
    PolicyStore,
    Settings,
)
from policies.listing import TokenQuery
from policies.storage.connections import async_client
from policies.storage.values import CreatedWorkspace
from tests.support.admin import ALICE_EMAIL, Inbox, Who, make_host_app
from tests.support.browser import chromium
from tests.support.served import served

pytestmark = pytest.mark.browser
COOLDOWN = 2  # seconds between sends, short so that the resend link can be exercised
STALENESS_BOUND = 1.0  # the gateway's documented worst case (check_interval 0.5 s + a trip)
ALLOWED, CREATED = (200, None), (201, None)
INVALID = (401, "invalid_key")
DASH = "\u2013"  # the en dash of the lists' counts


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("KEYSTILE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Live:
    url: str
    store: PolicyStore
    workspace: CreatedWorkspace
    inbox: Inbox
    redis_url: str
    keyring: Keyring
    api: str  # the workspace API, behind the gateway

    def call(self, key: str, method: str, path: str) -> tuple[int, str | None]:
        """Status and problem code of one API call made with ``key``."""
        answer = httpx.request(
            method, self.api + path, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        if answer.status_code < 400:
            return answer.status_code, None
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        return answer.status_code, answer.json()["code"] if problem else answer.text[:200]

    def becomes(
        self, key: str, method: str, path: str, expected: tuple[int, str | None]
    ) -> tuple[int, str | None]:
        """Call until the answer is ``expected`` or the gateway's worst case (1 s) is over."""
        deadline = time.monotonic() + STALENESS_BOUND
        while True:
            answer = self.call(key, method, path)
            if answer == expected or time.monotonic() > deadline:
                return answer

    def gateway(self, key: str) -> KeyPolicy | None:
        """What the gateway's read path says of ``key`` right now (None: refused)."""

        async def lookup() -> KeyPolicy | None:
            client = async_client(self.redis_url)
            try:
                return await AsyncPolicyStore(client, self.keyring).lookup(key)
            except InvalidKey:
                return None
            finally:
                await client.aclose()

        # Its own thread and event loop, clear of Playwright's.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, lookup()).result()


@pytest.fixture
def page_sizes() -> dict[str, int]:
    """The host's page sizes (``parametrize("page_sizes", [...])`` to change them)."""
    return {}


@pytest.fixture
def live(
    request: pytest.FixtureRequest,
    page_sizes: dict[str, int],
    redis_url: str,
    redis_client: redis.Redis,
    master_key: str,
    digest_secret: str,
    catalog: Catalog,
    mailer: SmtpMailer,
    inbox: Inbox,
) -> Iterator[Live]:
    # The wall clock here: the page's resend countdown runs in real time too.
    keyring = Keyring([master_key], digest_secret)
    store = PolicyStore(redis_client, keyring, clock=time.time)
    store.save_catalog(catalog)
    workspace = store.create_workspace("Acme Production", actor="test")
    alice = AdminIdentity("alice", ALICE_EMAIL, (workspace.workspace_id,), name="Alice")
    cooldown = getattr(request, "param", COOLDOWN)  # parametrize(..., indirect=True) to change
    otp = OtpPolicy(cooldown_seconds=cooldown)
    app = make_host_app(store, Who(alice), mailer, otp=otp, **page_sizes)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gate = KeyGateMiddleware(
        sample_api.app,
        settings=Settings(redis_url, (master_key,), digest_secret),
        catalog=catalog,
        registry=CollectorRegistry(),
        touch_interval=0.5,  # usage counts reach the charts within a second
    )
    try:
        with served(gate) as api:
            yield Live(
                f"http://127.0.0.1:{server.server_port}",
                store,
                workspace,
                inbox,
                redis_url,
                keyring,
                api,
            )
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:  # an alert() would mean page data ran as script
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The page runs under its strict Content-Security-Policy: anything it blocked is a bug.
    blocked: list[str] = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()
    assert dialogs == [], f"a script ran from page data: {dialogs}"
    assert errors == [], f"the page's scripts failed: {errors}"
    assert blocked == [], f"the page's policy blocked part of it: {blocked}"


def shot(page: Page, path: Path, *, full_page: bool = False) -> None:
    """Screenshot once Bootstrap's fades are over, so modals are fully in or out."""
    # A function, not an expression: Playwright evaluates expressions with eval(), which
    # the page's Content-Security-Policy rightly refuses.
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
    page.screenshot(path=path, full_page=full_page)


def clipboard(page: Page) -> str:
    text: str = page.evaluate("() => navigator.clipboard.readText()")
    return text


def test_steps_1_to_3_reveal_the_sdk_key_and_roll_it(page: Page, live: Live, shots: Path) -> None:
    sdk_key = live.workspace.sdk_key
    # Step 1: the Tokens entry of the admin menu opens the page with its three tabs.
    page.goto(live.url + "/admin/")
    page.get_by_role("link", name="Tokens").click()
    expect(page).to_have_url(live.url + "/admin/tokens/")
    tabs = page.locator("#ks-tabs .nav-link")
    expect(tabs).to_have_text(["Tokens", "SDK Access Key", "Publishable Key"])
    shot(page, shots / "01-tokens-page.png")

    # Step 2: the key is hidden, only its last characters show, and it is not in the page.
    page.get_by_role("tab", name="SDK Access Key").click()
    field = page.locator("#ks-sdk-key")
    expect(field).to_be_visible()
    expect(field).to_have_value(f"sk_{'•' * 12}{sdk_key[-4:]}")
    assert sdk_key not in page.content()
    shot(page, shots / "02-sdk-key-hidden.png")

    # Reveal Key mails a code and opens the verification modal at once.
    page.get_by_role("button", name="Reveal Key").click()
    modal = page.locator("#ks-otp-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#ks-otp-status")).to_contain_text("a•••@acme.test")
    first = live.inbox.next_code(to=ALICE_EMAIL)

    # Step 3: a wrong code shows the error and the attempts left inside the modal.
    wrong = "000000" if first != "000000" else "111111"
    modal.locator("#ks-otp-code").fill(wrong)
    modal.get_by_role("button", name="Verify").click()
    expect(modal.locator("#ks-otp-error")).to_have_text(
        "That code is not correct: 4 attempts left."
    )
    expect(field).to_have_value(f"sk_{'•' * 12}{sdk_key[-4:]}")
    shot(page, shots / "03-otp-wrong-code.png")

    # The resend link waits out the cooldown, then sends a new code that replaces the first.
    resend = modal.get_by_role("button", name="Resend code")
    expect(resend).to_be_disabled()
    expect(resend).to_be_enabled(timeout=(COOLDOWN + 3) * 1000)
    resend.click()
    second = live.inbox.next_code(to=ALICE_EMAIL)
    expect(modal.locator("#ks-otp-error")).to_be_hidden()
    shot(page, shots / "04-otp-modal.png")
    modal.locator("#ks-otp-code").fill(second)
    modal.get_by_role("button", name="Verify").click()

    # The key takes the masked field's place, with a copy button.
    expect(modal).to_be_hidden()
    expect(field).to_have_value(sdk_key)
    page.get_by_role("button", name="Copy").first.click()
    assert clipboard(page) == sdk_key
    shot(page, shots / "05-sdk-key-revealed.png")

    # Rolling: a grace period, a code, a new key; the old one keeps working for the grace.
    page.get_by_role("button", name="Hide").click()
    expect(field).to_have_value(f"sk_{'•' * 12}{sdk_key[-4:]}")
    page.get_by_role("button", name="Roll key…").click()
    roll = page.locator("#ks-roll-modal")
    expect(roll).to_be_visible()
    roll.locator("#ks-roll-grace").select_option(label="1 hour")
    shot(page, shots / "06-roll-modal.png")
    roll.get_by_role("button", name="Continue").click()
    expect(modal).to_be_visible()
    expect(modal.locator("#ks-otp-purpose")).to_contain_text("roll")
    modal.locator("#ks-otp-code").fill(live.inbox.next_code(to=ALICE_EMAIL))
    modal.get_by_role("button", name="Verify").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#ks-flash")).to_contain_text("The old key keeps working until")
    new_key = field.input_value()
    assert new_key.startswith("sk_") and new_key != sdk_key
    assert live.call(sdk_key, "GET", "/billing") == ALLOWED  # within its grace period
    assert live.call(new_key, "GET", "/billing") == ALLOWED
    old, new = live.gateway(sdk_key), live.gateway(new_key)
    assert old is not None and old.expires is not None
    assert new is not None and new.expires is None
    expect(page.locator("#ks-panel-audit")).to_contain_text("sdk_key.rolled")
    expect(page.locator("#ks-panel-audit")).to_contain_text("otp.failed")


@pytest.mark.parametrize("live", [60], indirect=True)
def test_reopening_the_modal_within_the_cooldown_keeps_the_mailed_code(
    page: Page, live: Live
) -> None:
    page.goto(live.url + "/admin/tokens/#sdk")
    page.get_by_role("button", name="Reveal Key").click()
    modal = page.locator("#ks-otp-modal")
    expect(modal.locator("#ks-otp-status")).to_contain_text("We sent a 6-digit code")
    code = live.inbox.next_code(to=ALICE_EMAIL)
    # Bootstrap ignores hide() while the modal still fades in (a loaded machine is slow).
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
    modal.get_by_role("button", name="Cancel").click()
    expect(modal).to_be_hidden()
    page.get_by_role("button", name="Reveal Key").click()
    expect(modal.locator("#ks-otp-status")).to_contain_text("moments ago")
    expect(modal.get_by_role("button", name="Resend code")).to_be_disabled()
    assert live.inbox.is_empty()  # the cooldown held: no second mail
    modal.locator("#ks-otp-code").fill(code)
    modal.get_by_role("button", name="Verify").click()
    expect(page.locator("#ks-sdk-key")).to_have_value(live.workspace.sdk_key)


def test_steps_4_to_6_publishable_key_revoke_and_blacklist(
    page: Page, live: Live, shots: Path
) -> None:
    old_key = live.workspace.publishable_key
    assert live.call(old_key, "GET", "/billing") == ALLOWED  # now in the gateway's cache
    # Step 4: the publishable key is shown at once, with copy.
    page.goto(live.url + "/admin/tokens/#publishable")
    field = page.locator("#ks-pk")
    expect(field).to_have_value(old_key)
    page.locator("#ks-pk-copy").click()
    assert clipboard(page) == old_key
    shot(page, shots / "07-publishable-key.png")

    # Step 5: Revoke Key asks first, with the page's warning; the old key dies at once.
    page.get_by_role("button", name="Revoke Key").click()
    revoke = page.locator("#ks-revoke-modal")
    expect(revoke).to_be_visible()
    expect(revoke).to_contain_text(
        "Revoking a key immediately invalidates the previous key. "
        "Any systems still using the old key will start failing."
    )
    shot(page, shots / "08-revoke-modal.png")
    revoke.get_by_role("button", name="Revoke and regenerate").click()
    expect(revoke).to_be_hidden()
    expect(field).not_to_have_value(old_key)
    new_key = field.input_value()
    assert live.becomes(old_key, "GET", "/billing", INVALID) == INVALID
    assert live.call(new_key, "GET", "/billing") == ALLOWED
    assert live.call(new_key, "POST", "/projects") == CREATED

    # Step 6: Blacklist Action: module, then its functionalities (or '*'), Save.
    page.get_by_role("button", name="Blacklist Action").click()
    blacklist = page.locator("#ks-blacklist-modal")
    expect(blacklist).to_be_visible()
    functionality = blacklist.locator("#ks-bl-functionality")
    expect(functionality).to_be_disabled()
    blacklist.locator("#ks-bl-module").select_option("projects")
    expect(functionality.locator("option")).to_have_text(
        ["Select a functionality", "* (the whole module)", "list", "create", "delete"]
    )
    blacklist.locator("#ks-bl-module").select_option("members")
    expect(functionality.locator("option")).to_have_text(
        ["Select a functionality", "* (the whole module)", "invite", "remove"]
    )
    blacklist.locator("#ks-bl-module").select_option("projects")
    functionality.select_option("create")
    shot(page, shots / "09-blacklist-modal.png")
    blacklist.get_by_role("button", name="Save").click()
    expect(blacklist).to_be_hidden()
    rules = page.locator("#ks-rules-table tbody tr")
    expect(rules).to_have_count(1)
    blocked = (403, "action_blocked")
    assert live.becomes(new_key, "POST", "/projects", blocked) == blocked
    assert live.call(new_key, "GET", "/projects") == ALLOWED

    # Many rules; the whole of a module with '*'.
    page.get_by_role("button", name="Blacklist Action").click()
    blacklist.locator("#ks-bl-module").select_option("billing")
    functionality.select_option("*")
    blacklist.get_by_role("button", name="Save").click()
    expect(rules).to_have_count(2)
    assert live.becomes(new_key, "GET", "/billing", blocked) == blocked

    # A duplicate gets a friendly message in the modal, and changes nothing.
    page.get_by_role("button", name="Blacklist Action").click()
    blacklist.locator("#ks-bl-module").select_option("projects")
    functionality.select_option("create")
    blacklist.get_by_role("button", name="Save").click()
    expect(blacklist.locator("#ks-blacklist-error")).to_have_text(
        "projects → create is already blocked."
    )
    shot(page, shots / "10-blacklist-duplicate.png")
    blacklist.get_by_role("button", name="Cancel").click()
    expect(blacklist).to_be_hidden()
    expect(rules).to_have_count(2)
    shot(page, shots / "11-blacklist-rules.png")

    # Remove a rule, after a confirmation: the key may use the action again at once.
    page.get_by_role("button", name="Remove projects → create").click()
    confirm = page.locator("#ks-confirm-modal")
    expect(confirm).to_be_visible()
    expect(confirm.locator("#ks-confirm-text")).to_contain_text("projects → create")
    confirm.get_by_role("button", name="Cancel").click()  # one click alone removes nothing
    expect(confirm).to_be_hidden()
    expect(rules).to_have_count(2)
    page.get_by_role("button", name="Remove projects → create").click()
    confirm.get_by_role("button", name="Remove restriction").click()
    expect(confirm).to_be_hidden()
    expect(rules).to_have_count(1)
    assert live.becomes(new_key, "POST", "/projects", CREATED) == CREATED
    expect(page.locator("#ks-panel-audit")).to_contain_text("rule.removed")


def create_token(
    page: Page, name: str, *, expiry: str = "Never", rules: tuple[str, ...] = ()
) -> Locator:
    """Open the Create token modal and fill it in; returns the modal."""
    page.get_by_role("button", name="Create token").click()
    create = page.locator("#ks-token-modal")
    expect(create).to_be_visible()
    create.locator("#ks-token-name").fill(name)
    create.locator("#ks-token-expiry").select_option(label=expiry)
    expect(create.locator("#ks-token-rules option")).to_have_count(9)  # 3 modules: * and each
    create.locator("#ks-token-rules").select_option(list(rules))
    return create


def verify_token_code(page: Page, live: Live, name: str) -> Locator:
    """After Create token: the code modal, the mailed code, Verify; returns the token modal."""
    code_modal = page.locator("#ks-otp-modal")
    expect(code_modal).to_be_visible()
    expect(page.locator("#ks-token-modal")).to_be_hidden()
    expect(code_modal.locator("#ks-otp-purpose")).to_contain_text(
        f"create the workspace token \u201c{name}\u201d"
    )
    code_modal.locator("#ks-otp-code").fill(live.inbox.next_code(to=ALICE_EMAIL))
    code_modal.get_by_role("button", name="Verify").click()
    expect(code_modal).to_be_hidden()
    create = page.locator("#ks-token-modal")
    expect(create.locator("#ks-token-step-created")).to_be_visible()
    return create


def test_tokens_tab_tokens_and_secrets(page: Page, live: Live, shots: Path) -> None:
    page.goto(live.url + "/admin/tokens/")
    create = create_token(
        page, "nightly-export", expiry="In 30 days", rules=("members:invite", "billing:*")
    )
    shot(page, shots / "12-token-create.png")
    # A bad form is refused in the form, before any code is mailed.
    create.locator("#ks-token-name").fill(" ")
    create.get_by_role("button", name="Create token").click()
    expect(create.locator("#ks-token-error")).to_have_text("Token name is required.")
    assert live.inbox.is_empty() and live.store.list_tokens(live.workspace.workspace_id) == []
    create.locator("#ks-token-name").fill("nightly-export")
    # Creating a token opens the code modal: nothing is minted until the code is verified.
    create.get_by_role("button", name="Create token").click()
    expect(page.locator("#ks-otp-modal")).to_be_visible()
    assert live.store.list_tokens(live.workspace.workspace_id) == []
    create = verify_token_code(page, live, "nightly-export")

    # Shown once, with copy.
    value = create.locator("#ks-token-value")
    token = value.input_value()
    assert token.startswith("tk_")
    create.get_by_role("button", name="Copy").click()
    assert clipboard(page) == token
    shot(page, shots / "13-token-created.png")
    create.get_by_role("button", name="Done").click()
    expect(create).to_be_hidden()
    assert token not in page.content()

    rows = page.locator("#ks-tokens-table tbody tr")
    row = rows.filter(has_text="nightly-export")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("never")  # last used
    assert live.call(token, "POST", "/members") == (403, "action_blocked")
    assert live.call(token, "GET", "/billing") == (403, "action_blocked")
    assert live.call(token, "GET", "/projects") == ALLOWED

    # A name that is markup stays text (the page fixture fails on any alert()).
    hostile = '<img src=x onerror=alert("xss")>ci'
    create_token(page, hostile).get_by_role("button", name="Create token").click()
    verify_token_code(page, live, hostile).get_by_role("button", name="Done").click()
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=hostile).locator(".ks-token-name")).to_contain_text(hostile)
    assert page.locator("#ks-tokens-table img").count() == 0

    # Secrets: add, list, reveal behind a code, delete.
    page.locator("#ks-secret-name").fill("DATABASE_URL")
    page.locator("#ks-secret-value").fill("postgres://keystile:s3cret@db/acme")
    page.get_by_role("button", name="Add").click()
    secret_row = page.locator("#ks-secrets-table tr[data-secret='DATABASE_URL']")
    expect(secret_row).to_be_visible()
    assert "s3cret" not in page.content()
    secret_row.get_by_role("button", name="Reveal").click()
    modal = page.locator("#ks-otp-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#ks-otp-purpose")).to_contain_text("DATABASE_URL")
    modal.locator("#ks-otp-code").fill(live.inbox.next_code(to=ALICE_EMAIL))
    modal.get_by_role("button", name="Verify").click()
    expect(modal).to_be_hidden()
    expect(secret_row.locator("input")).to_have_value("postgres://keystile:s3cret@db/acme")
    shot(page, shots / "14-tokens-tab.png", full_page=True)

    # Revoke the token, after a confirmation: the gateway refuses it at once.
    row.get_by_role("button", name="Revoke").click()
    confirm = page.locator("#ks-confirm-modal")
    expect(confirm).to_be_visible()
    expect(confirm.locator("#ks-confirm-text")).to_contain_text("nightly-export")
    shot(page, shots / "15-token-revoke-modal.png")
    confirm.get_by_role("button", name="Revoke token").click()
    expect(confirm).to_be_hidden()
    expect(row).to_contain_text("revoked")
    assert live.becomes(token, "GET", "/projects", INVALID) == INVALID

    secret_row.get_by_role("button", name="Delete").click()
    confirm.get_by_role("button", name="Delete secret").click()
    expect(page.locator("#ks-secrets-empty")).to_be_visible()
    audit = page.locator("#ks-panel-audit")
    for action in (
        "token.created",
        "token.revoked",
        "secret.set",
        "secret.revealed",
        "secret.deleted",
    ):
        expect(audit).to_contain_text(action)
    shot(page, shots / "16-activity.png", full_page=True)


@pytest.fixture
def framer(live: Live) -> Iterator[str]:
    """A page on another origin (same host, another port: same-site, as in the review's
    attack) that frames the Tokens page and, as a control, the host's own admin index."""
    html = f"""<!doctype html><title>decoy</title>
<iframe id="victim" src="{live.url}/admin/tokens/#publishable" width="800" height="400"
        onload="window.victimLoaded = true"></iframe>
<iframe id="control" src="{live.url}/admin/" width="800" height="400"></iframe>"""

    def app(environ: dict[str, object], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [html.encode()]

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_page_on_another_origin_gets_a_blank_frame(
    browser: Browser, live: Live, framer: str
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        with (
            page.expect_response(f"{live.url}/admin/tokens/") as victim,
            page.expect_response(f"{live.url}/admin/") as control,
        ):
            page.goto(framer)
        assert victim.value.status == 200 and control.value.status == 200
        # The control frame shows the host's admin: framing itself works in this set-up...
        control_frame = page.frame_locator("#control")
        expect(control_frame.locator(".navbar")).to_be_visible()
        # ...but the Tokens page's frame stays blank: the browser refused to render it.
        page.wait_for_function("() => window.victimLoaded === true")  # the frame is done
        victim_frame = page.locator("#victim").element_handle().content_frame()
        assert victim_frame is not None
        assert victim_frame.url == "chrome-error://chromewebdata/"  # Chromium's refusal
        assert victim_frame.locator("#ks-app, #ks-tabs, button").count() == 0
    finally:
        context.close()


SMALL_PAGES = {"tokens_per_page": 10, "audit_per_page": 10}


@pytest.mark.parametrize("page_sizes", [SMALL_PAGES])
def test_long_lists_page_and_filter_in_place(page: Page, live: Live, shots: Path) -> None:
    """Issue 16: 23 tokens, ten a page; filters by status and name; a revoked token found;
    the activity paged back; all under the page's strict CSP (the fixture checks)."""
    ws = live.workspace.workspace_id
    create_tokens(live.store, ws, 23)
    (gone,) = live.store.token_page(ws, TokenQuery(text="bench-7")).items
    live.store.revoke_token(ws, gone.key_id, actor="test")
    page.goto(live.url + "/admin/tokens/")
    rows = page.locator("#ks-tokens-table tbody tr")
    count = page.locator("#ks-tokens-count")
    expect(rows).to_have_count(10)
    expect(count).to_have_text(f"1{DASH}10 of 23")
    first = rows.first.get_attribute("data-key-id")

    # Next: fetched in place (a panel request, no page load), and the URL follows.
    with page.expect_response(lambda r: "/panel/tokens?" in r.url and "tpage=2" in r.url):
        page.locator("#ks-tokens-pages").get_by_role("link", name="Next").click()
    expect(count).to_have_text(f"11{DASH}20 of 23")
    expect(page).to_have_url(re.compile(r"tpage=2"))
    assert rows.first.get_attribute("data-key-id") != first
    shot(page, shots / "17-tokens-pages.png")
    page.go_back()  # Back: the first page again
    expect(count).to_have_text(f"1{DASH}10 of 23")
    page.go_forward()
    expect(count).to_have_text(f"11{DASH}20 of 23")

    # The revoked token, by status; then names, whose second page survives a revoke.
    page.locator("#ks-tokens-status").select_option("revoked")
    page.locator("#ks-tokens-filter").click()
    expect(count).to_have_text(f"1{DASH}1 of 1 matching")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bench-7")
    expect(rows.first).to_contain_text("revoked")
    expect(page).not_to_have_url(re.compile(r"tpage="))
    page.locator("#ks-tokens-status").select_option("")
    page.locator("#ks-tokens-q").fill("bench-1")
    page.locator("#ks-tokens-q").press("Enter")
    expect(count).to_have_text(f"1{DASH}10 of 11 matching")
    page.locator("#ks-tokens-pages").get_by_role("link", name="Last").click()
    expect(count).to_have_text(f"11{DASH}11 of 11 matching")
    rows.first.get_by_role("button", name="Revoke").click()
    page.locator("#ks-confirm-modal").get_by_role("button", name="Revoke token").click()
    expect(rows.first).to_contain_text("revoked")  # refreshed on the same page and filter
    expect(count).to_have_text(f"11{DASH}11 of 11 matching")
    page.reload()  # the URL holds the lists' state
    expect(count).to_have_text(f"11{DASH}11 of 11 matching")
    expect(page.locator("#ks-tokens-q")).to_have_value("bench-1")

    # The activity: 26 entries, ten a page, paged back to the first; then one action.
    audit = page.locator("#ks-audit-table tbody tr")
    expect(audit).to_have_count(10)
    older = page.locator("#ks-audit-pages").get_by_role("link", name="Older")
    older.click()
    expect(audit.first).to_contain_text("token.created")
    older.click()
    expect(audit).to_have_count(6)
    expect(audit.last).to_contain_text("workspace.created")
    expect(older).to_have_count(0)
    page.locator("#ks-audit-action").fill("token.revoked")
    page.locator("#ks-audit-filter").click()
    expect(audit).to_have_count(2)
    expect(page.locator("#ks-audit-pages")).to_have_count(0)
    shot(page, shots / "18-activity-filtered.png", full_page=True)


@pytest.mark.parametrize("page_sizes", [SMALL_PAGES])
def test_long_lists_without_javascript(browser: Browser, live: Live) -> None:
    """Page links and filter forms are plain HTML: they work with scripts off."""
    ws = live.workspace.workspace_id
    create_tokens(live.store, ws, 23)
    (gone,) = live.store.token_page(ws, TokenQuery(text="bench-7")).items
    live.store.revoke_token(ws, gone.key_id, actor="test")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(live.url + "/admin/tokens/")
        count = page.locator("#ks-tokens-count")
        expect(count).to_have_text(f"1{DASH}10 of 23")
        with page.expect_navigation():
            page.locator("#ks-tokens-pages").get_by_role("link", name="Next").click()
        expect(count).to_have_text(f"11{DASH}20 of 23")
        page.locator("#ks-tokens-status").select_option("revoked")
        with page.expect_navigation():
            page.locator("#ks-tokens-filter").click()
        expect(page.locator("#ks-tokens-table tbody tr")).to_have_count(1)
        expect(page.locator("#ks-tokens-table")).to_contain_text("bench-7")
        with page.expect_navigation():
            page.locator("#ks-audit-pages").get_by_role("link", name="Older").click()
        expect(page.locator("#ks-audit-table tbody tr")).to_have_count(10)
        expect(count).to_have_text(f"1{DASH}1 of 1 matching")  # the tokens' filter is kept
    finally:
        context.close()
