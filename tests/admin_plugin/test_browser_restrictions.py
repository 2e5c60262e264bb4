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
