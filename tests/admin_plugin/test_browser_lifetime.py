"""The Tokens tab's Lifetime policy section in Chromium, against a real gateway (the fixtures
of :mod:`tests.admin_plugin.test_browser`): set a maximum lifetime and see a token beyond
it marked out of policy and the token form refuse a new one; then list the tokens unused
for 90 days and revoke them through the confirmation, one of them used meanwhile (through
the gateway, its last use flushed to Redis) and so left alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from policies import PolicyStore
from policies.lifetime import DAY, LifetimePolicy
from tests.admin_plugin.test_browser import (
    ALLOWED,
    INVALID,
    Live,
    create_token,
    live,
    page,
    page_sizes,
    shot,
    shots,
)
from tests.support.browser import chromium

__all__ = ["live", "page", "page_sizes", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser
FLUSHED_WITHIN = 10.0  # the gateway's touch_interval is 0.5 s here


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def until(condition: Callable[[], bool], timeout: float = FLUSHED_WITHIN) -> None:
    """Wait for a state of Redis that a background task writes (no event to await there)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_lifetime_policy_and_unused_tokens(page: Page, live: Live, shots: Path) -> None:
    ws = live.workspace.workspace_id
    aged = PolicyStore(live.store.client, live.keyring, clock=lambda: time.time() - 100 * DAY)
    forgotten = aged.create_token(ws, "forgotten-export", actor="test")
    stale = aged.create_token(ws, "stale-ci", actor="test")
    nightly = aged.create_token(ws, "nightly", actor="test")
    recent = live.store.create_token(ws, "recent-forever", actor="test").info.key_id
    assert live.call(nightly.token, "GET", "/billing") == ALLOWED  # used today

    def used(key_id: str) -> bool:
        return any(t.key_id == key_id and t.last_used for t in live.store.list_tokens(ws))

    until(lambda: used(nightly.info.key_id))

    page.goto(live.url + "/admin/tokens/")
    section = page.locator("#ks-panel-lifetime")
    expect(section.locator("#ks-lifetime-current")).to_contain_text("none (tokens may live")
    expect(page.locator("#ks-tokens-table .ks-out-of-policy")).to_have_count(0)

    # A 30-day maximum: every never-expiring token is now marked, none is changed.
    section.locator("#ks-lifetime-max").fill("30")
    section.get_by_role("button", name="Save policy").click()
    expect(page.locator("#ks-flash")).to_contain_text("Token lifetime policy saved")
    expect(section.locator("#ks-lifetime-current")).to_contain_text(
        "tokens expire within 30 days of creation"
    )
    row = page.locator(f"#ks-tokens-table tr[data-key-id='{recent}']")
    expect(row.locator(".ks-out-of-policy")).to_have_text("out of policy")
    expect(row).to_contain_text("never expires (maximum 30 days)")
    expect(row).to_contain_text("active")
    expect(page.locator("#ks-tokens-table .ks-out-of-policy")).to_have_count(4)
    assert live.store.lifetime.policy(ws) == LifetimePolicy(30)
    shot(page, shots / "30-lifetime-policy.png", full_page=True)

    # The token form refuses a token outside it, before any code is mailed.
    create_token(page, "another-forever").get_by_role("button", name="Create token").click()
    expect(page.locator("#ks-token-error")).to_contain_text(
        "requires tokens to expire within 30 days"
    )
    assert live.inbox.is_empty()
    page.locator("#ks-token-modal").get_by_role("button", name="Cancel").click()

    # Unused for 90 days: the two never used since they were made 100 days ago.
    unused = section.locator("#ks-unused-table tbody tr")
    expect(unused).to_have_count(2)
    expect(section.locator("#ks-unused-table")).to_contain_text("forgotten-export")
    expect(section.locator("#ks-unused-table")).to_contain_text("stale-ci")
    expect(section.locator("#ks-unused-count")).to_contain_text("2 of 2 unused for 90 days")
    section.locator("#ks-unused-days").fill("120")
    section.get_by_role("button", name="Show").click()
    expect(section.locator("#ks-unused-none")).to_contain_text("unused for 120 days")
    section.locator("#ks-unused-days").fill("90")
    section.get_by_role("button", name="Show").click()
    expect(unused).to_have_count(2)

    # Between the view and the confirmation, stale-ci is used again (through the gateway).
    assert live.call(stale.token, "GET", "/billing") == ALLOWED
    until(lambda: used(stale.info.key_id))
    section.get_by_role("button", name="Revoke these 2 tokens…").click()
    confirm = page.locator("#ks-confirm-modal")
    expect(confirm).to_be_visible()
    expect(confirm.locator("#ks-confirm-text")).to_contain_text("unused for 90 days")
    shot(page, shots / "31-unused-revoke-confirm.png")
    confirm.get_by_role("button", name="Revoke 2 tokens").click()
    expect(confirm).to_be_hidden()
    flash = page.locator("#ks-flash")
    expect(flash).to_contain_text("Revoked 1 unused token.")
    expect(flash).to_contain_text(f"{stale.info.key_id} (used less than 90 days ago)")
    expect(section.locator("#ks-unused-none")).to_be_visible()
    gone = page.locator(f"#ks-tokens-table tr[data-key-id='{forgotten.info.key_id}']")
    expect(gone).to_contain_text("revoked")
    assert live.becomes(forgotten.token, "GET", "/billing", INVALID) == INVALID
    assert live.call(stale.token, "GET", "/billing") == ALLOWED
    assert live.store.audit_tail(ws, 1)[0].action == "tokens.unused_revoked"
    expect(page.locator("#ks-panel-audit")).to_contain_text("tokens.unused_revoked")
