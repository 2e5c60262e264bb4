"""The Publishable Key tab's Rate limits section in Chromium, against a real gateway (the
fixtures of :mod:`tests.admin_plugin.test_browser`): add a limit, see it listed and the
gateway answer 429 once it is used up, edit it, remove it after a confirmation; and a
token's limits, from the token form to its row in the list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin_plugin.test_browser import (
    ALLOWED,
    Live,
    create_token,
    live,
    page,
    page_sizes,
    shot,
    shots,
    verify_token_code,
)
from tests.support.browser import chromium

__all__ = ["live", "page", "page_sizes", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser
LIMITED = (429, "rate_limited")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def test_publishable_key_rate_limit_add_edit_remove(page: Page, live: Live, shots: Path) -> None:
    key = live.workspace.publishable_key
    ws = live.workspace.workspace_id
    assert live.call(key, "GET", "/billing") == ALLOWED
    page.goto(live.url + "/admin/tokens/#publishable")
    section = page.locator("#ks-panel-pk-limits")
    expect(section).to_contain_text("No rate limits")

    # Add: a typo is explained in the modal and stores nothing.
    page.locator("#ks-publishable-limit-add").click()
    modal = page.locator("#ks-limit-modal")
    expect(modal).to_be_visible()
    expect(modal.locator("#ks-limit-for")).to_contain_text("publishable key")
    modal.locator("#ks-limit-windows").fill("5/fortnight")
    modal.get_by_role("button", name="Save").click()
    expect(modal.locator("#ks-limit-error")).to_contain_text(
        "limit '5/fortnight' is not COUNT/WINDOW"
    )
    assert live.store.limits.by_owner(ws) == {}
    modal.locator("#ks-limit-windows").fill("2/min, 1000/day")
    shot(page, shots / "22-rate-limit-modal.png")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    rows = page.locator("#ks-publishable-limits-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Whole key")
    expect(rows.first.locator(".ks-limit-text")).to_have_text("2/min, 1000/day")
    # At once: the gateway refuses the key once its two a minute are used.
    assert live.becomes(key, "GET", "/billing", LIMITED) == LIMITED

    # One action, picked from the catalog like a blacklist rule.
    page.locator("#ks-publishable-limit-add").click()
    modal.locator("#ks-limit-scope").select_option("action")
    modal.locator("#ks-limit-module").select_option("projects")
    expect(modal.locator("#ks-limit-functionality option")).to_have_text(
        ["Select a functionality", "list", "create", "delete"]
    )
    modal.locator("#ks-limit-functionality").select_option("create")
    modal.locator("#ks-limit-windows").fill("10/min")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("projects.create")
    shot(page, shots / "23-rate-limits.png")

    # Edit the whole key's: the form comes prefilled, its scope fixed.
    page.get_by_role("button", name="Edit the publishable key's limit on Whole key").click()
    expect(modal.locator("#ks-limit-windows")).to_have_value("2/min, 1000/day")
    expect(modal.locator("#ks-limit-scope")).to_be_disabled()
    modal.locator("#ks-limit-windows").fill("1000/min")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    expect(rows.first.locator(".ks-limit-text")).to_have_text("1000/min")
    assert live.becomes(key, "GET", "/billing", ALLOWED) == ALLOWED

    # Remove, after a confirmation; Cancel alone removes nothing.
    remove = page.get_by_role("button", name="Remove the publishable key's limit on Whole key")
    remove.click()
    confirm = page.locator("#ks-confirm-modal")
    expect(confirm.locator("#ks-confirm-text")).to_contain_text("the whole key")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(rows).to_have_count(2)
    remove.click()
    confirm.get_by_role("button", name="Remove limit").click()
    expect(confirm).to_be_hidden()
    expect(rows).to_have_count(1)
    assert live.store.limits.of(ws, "pk").describe() == "projects.create: 10/min"
    expect(page.locator("#ks-panel-audit")).to_contain_text("limits.removed")


def test_token_rate_limits_from_the_form_and_in_the_list(
    page: Page, live: Live, shots: Path
) -> None:
    ws = live.workspace.workspace_id
    page.goto(live.url + "/admin/tokens/")
    create = create_token(page, "export")
    create.locator("#ks-token-limits").fill("0/min")  # refused in the form, before a code
    create.get_by_role("button", name="Create token").click()
    expect(create.locator("#ks-token-error")).to_contain_text("a limit's count must be 1-")
    assert live.inbox.is_empty()
    create.locator("#ks-token-limits").fill("100/min, 10000/day")
    create.get_by_role("button", name="Create token").click()
    create = verify_token_code(page, live, "export")
    create.get_by_role("button", name="Done").click()
    row = page.locator("#ks-tokens-table tbody tr").filter(has_text="export")
    expect(row.locator(".ks-token-limit")).to_have_text("limit: 100/min, 10000/day")
    kid = row.get_attribute("data-key-id")

    # Limits: the modal comes prefilled with the whole token's; Save replaces them.
    row.get_by_role("button", name="Limits").click()
    modal = page.locator("#ks-limit-modal")
    expect(modal.locator("#ks-limit-for")).to_contain_text("token \u201cexport\u201d")
    expect(modal.locator("#ks-limit-windows")).to_have_value("100/min, 10000/day")
    modal.locator("#ks-limit-windows").fill("50/min")
    modal.get_by_role("button", name="Save").click()
    expect(modal).to_be_hidden()
    expect(row.locator(".ks-token-limit")).to_have_text("limit: 50/min")
    assert live.store.limits.of(ws, f"tk:{kid}").describe() == "key: 50/min"
    shot(page, shots / "24-token-limits.png")

    row.get_by_role("button", name="Remove the limit on the whole token of export").click()
    expect(page.locator("#ks-confirm-text")).to_contain_text("on the whole token")
    page.locator("#ks-confirm-modal").get_by_role("button", name="Remove limit").click()
    expect(row.locator(".ks-token-limit")).to_have_count(0)
    assert live.store.limits.by_owner(ws) == {}
