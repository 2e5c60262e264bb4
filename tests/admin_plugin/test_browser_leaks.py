"""The Tokens tab's leak reports in Chromium (the fixtures of
:mod:`tests.admin_plugin.test_browser`): the admin sets the leak policy, GitLab reports a
token and the SDK key to the leak-report endpoint (uvicorn, in a thread), the gateway
refuses the token within its bound while the SDK key, under ``notify``, still works, and the
page lists both reports with where they were found and what was done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.leaks import LeakReports
from gateway.leaks.config import GITLAB_TYPES
from policies import Settings
from tests.admin_plugin.test_browser import (
    ALLOWED,
    INVALID,
    Live,
    live,
    page,
    page_sizes,
    shot,
    shots,
)
from tests.support.browser import chromium
from tests.support.served import served

__all__ = ["live", "page", "page_sizes", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser
GITLAB_TOKEN = "g" * 40


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def test_a_leak_report_shows_on_the_tokens_page(
    page: Page, live: Live, shots: Path, master_key: str, digest_secret: str
) -> None:
    ws = live.workspace.workspace_id
    token = live.store.create_token(ws, "deploy-bot", actor="test")
    sdk = live.workspace.sdk_key
    assert live.call(token.token, "GET", "/billing") == ALLOWED
    page.goto(live.url + "/admin/tokens/")
    panel = page.locator("#ks-panel-leaks")
    expect(panel.locator("#ks-leaks-empty")).to_be_visible()
    panel.locator("#ks-leak-sdk").select_option("notify")
    panel.locator("#ks-leak-policy-save").click()
    expect(page.locator("#ks-flash")).to_contain_text("Leak policy saved")
    expect(page.locator("#ks-panel-audit")).to_contain_text("leak_policy.set")

    settings = Settings(live.redis_url, (master_key,), digest_secret)
    leaks = LeakReports(settings=settings, gitlab_token=GITLAB_TOKEN, github=False)
    where = "https://gitlab.example/acme/app/-/blob/main/deploy.sh#L3"
    body = [
        {"type": GITLAB_TYPES[1], "token": key, "location": where} for key in (token.token, sdk)
    ]
    with served(leaks) as url:
        answer = httpx.post(
            url + "/gitlab/v1/revoke_tokens", json=body, headers={"Authorization": GITLAB_TOKEN}
        )
    assert answer.status_code == 204
    assert live.becomes(token.token, "GET", "/billing", INVALID) == INVALID  # revoked
    assert live.call(sdk, "GET", "/billing") == ALLOWED  # notify: nothing changed

    page.reload()
    rows = page.locator("#ks-leaks-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("SDK key")
    expect(rows.nth(0).locator(".ks-leak-outcome")).to_have_text("nothing changed (notify)")
    expect(rows.nth(1)).to_contain_text("deploy-bot")
    expect(rows.nth(1)).to_contain_text(token.info.key_id)
    expect(rows.nth(1).locator(".ks-leak-where")).to_contain_text(where)
    expect(rows.nth(1).locator(".ks-leak-outcome")).to_have_text("token revoked")
    expect(page.locator("#ks-panel-leaks")).not_to_contain_text(token.token[3:])
    expect(page.locator("#ks-tokens-table tr[data-key-id] .badge")).to_have_text("revoked")
    expect(page.locator("#ks-panel-audit")).to_contain_text("key.leaked")
    shot(page, shots / "30-leak-reports.png")
