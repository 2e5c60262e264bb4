"""Allow-lists in Chromium, against a real gateway (the fixtures of
:mod:`tests.admin_plugin.test_browser`): a token created with a scope and a network in the
admin is served inside them and refused outside its network and outside its scopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin_plugin.test_browser import (
    Live,
    create_token,
    live,
    page,
    page_sizes,
    shot,
    shots,
    verify_token_code,
)
from tests.support.admin import ALICE_EMAIL
from tests.support.browser import chromium

__all__ = ["live", "page", "page_sizes", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def call_from(source: str, live: Live, key: str, method: str, path: str) -> tuple[int, str]:
    """One API call through the gateway from loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        answer = client.request(method, live.api + path, headers={"Authorization": f"Bearer {key}"})
    code = answer.json().get("code", "") if answer.status_code >= 400 else ""
    return answer.status_code, code


def test_a_token_restricted_in_the_admin_is_refused_outside_its_lists(
    page: Page, live: Live, shots: Path
) -> None:
    page.goto(live.url + "/admin/tokens/")
    create = create_token(page, "office")
    scopes = create.locator("#ks-token-scopes")
    expect(scopes.locator("fieldset legend")).to_have_count(3)  # the catalog's modules
    scopes.locator('label[for="ks-token-scopes-projects-projects_list"]').click()
    create.locator("#ks-token-networks").fill("127.0.0.2")
    shot(page, shots / "30-token-allow-lists.png")
    create.get_by_role("button", name="Create token").click()
    create = verify_token_code(page, live, "office")
    token = create.locator("#ks-token-value").input_value()
    create.get_by_role("button", name="Done").click()
    row = page.locator("#ks-tokens-table tbody tr").filter(has_text="office")
    expect(row.locator(".ks-token-scopes")).to_have_text("scopes: projects.list")
    expect(row.locator(".ks-token-networks")).to_have_text("networks: 127.0.0.2/32")

    assert call_from("127.0.0.2", live, token, "GET", "/projects") == (200, "")
    assert call_from("127.0.0.2", live, token, "POST", "/projects") == (403, "action_not_allowed")
    assert call_from("127.0.0.1", live, token, "GET", "/projects") == (403, "network_not_allowed")
    expect(page.locator("#ks-panel-audit")).to_contain_text("token.created")

    # The SDK key's Restrict section: its change needs a code, then applies at once.
    sdk = live.workspace.sdk_key
    assert call_from("127.0.0.1", live, sdk, "POST", "/projects") == (201, "")
    page.locator("#sdk-tab").click()
    form = page.locator("#ks-sdk-restrict-form")
    expect(form.locator("fieldset legend")).to_have_count(3)
    form.locator('label[for="ks-sdk-scopes-projects-projects__"]').click()  # projects:*
    form.locator("#ks-sdk-networks").fill("127.0.0.2/32")
    form.get_by_role("button", name="Save restrictions…").click()
    code_modal = page.locator("#ks-otp-modal")
    expect(code_modal.locator("#ks-otp-purpose")).to_contain_text("what the SDK access key may do")
    code_modal.locator("#ks-otp-code").fill(live.inbox.next_code(to=ALICE_EMAIL))
    code_modal.get_by_role("button", name="Verify").click()
    expect(code_modal).to_be_hidden()
    expect(page.locator("#ks-sdk-restriction")).to_contain_text(
        "Now: only projects:*, from 127.0.0.2/32"
    )
    shot(page, shots / "31-sdk-restrict.png")
    assert call_from("127.0.0.2", live, sdk, "POST", "/projects") == (201, "")
    assert call_from("127.0.0.2", live, sdk, "GET", "/billing") == (403, "action_not_allowed")
    assert call_from("127.0.0.1", live, sdk, "POST", "/projects") == (403, "network_not_allowed")
