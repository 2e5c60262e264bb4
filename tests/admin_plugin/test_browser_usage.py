"""The usage charts and the Blacklist Action modal's impact, in Chromium, after real traffic
through the gateway (the fixtures of :mod:`tests.admin_plugin.test_browser`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from policies import PolicyStore, Rule
from policies.operations.usage import count_calls
from policies.storage.driver import Batch, Operation
from policies.usage.request_counts import action_field
from tests.admin_plugin.test_browser import Live, live, page, page_sizes, shot, shots
from tests.support.browser import chromium

__all__ = ["live", "page", "page_sizes", "shots"]  # fixtures, used by name
pytestmark = pytest.mark.browser
OLD = 3 * 86400  # seconds ago: inside 7 d and 30 d, outside 1 h and 24 h


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def send(live: Live, key: str, method: str, path: str, count: int, origin: str = "") -> None:
    headers = {"Authorization": f"Bearer {key}", **({"Origin": origin} if origin else {})}
    with httpx.Client(timeout=10) as http:
        for _ in range(count):
            http.request(method, live.api + path, headers=headers)


def counted(store: PolicyStore, ws: str, subject: str, total: int) -> None:
    """Wait (bounded) for the gateway's background flush to bring the counts to ``total``."""
    deadline = time.monotonic() + 10
    while store.usage(ws, since=3600, subject=subject).total != total:
        assert time.monotonic() < deadline, f"{subject}: the gateway did not flush in 10 s"
        time.sleep(0.1)


def plant(store: PolicyStore, ws: str, field: str, count: int, ago: float) -> Operation[None]:
    """Counts as an older flush wrote them (the gateway's own write path, back-dated)."""
    yield Batch(tuple(count_calls({ws: {field: count}}, time.time() - ago)))


def drawn(panel: Locator) -> bool:
    """Whether the panel's canvas comes to hold a painted pixel (a chart in a tab just shown
    is drawn once it has its size)."""
    canvas = panel.locator("canvas").element_handle()
    page = panel.page
    page.wait_for_function(
        "(c) => c.width > 0 && c.getContext('2d').getImageData(0, 0, c.width, c.height)"
        ".data.some((v, i) => i % 4 === 3 && v !== 0)",
        arg=canvas,
    )
    return True


def labels(panel: Locator) -> int:
    count: int = panel.locator("canvas").evaluate("(c) => Chart.getChart(c).data.labels.length")
    return count


def test_usage_charts_ranges_and_the_blacklist_impact(page: Page, live: Live, shots: Path) -> None:
    store, ws = live.store, live.workspace.workspace_id
    token = store.create_token(ws, "nightly-export", actor="test")
    store.add_rule(ws, Rule("members", "invite"), actor="test")
    pk, sdk = live.workspace.publishable_key, live.workspace.sdk_key
    send(live, pk, "GET", "/billing", 9, origin="https://shop.example")
    send(live, pk, "GET", "/projects", 4)
    send(live, pk, "POST", "/members", 3)  # refused: action_blocked
    send(live, sdk, "GET", "/projects", 5)
    send(live, token.token, "GET", "/billing", 2)
    counted(store, ws, "publishable", 16)
    counted(store, ws, "sdk", 5)
    counted(store, ws, token.info.key_id, 2)
    store.run(plant(store, ws, action_field("publishable", "projects.list", "allowed"), 7, OLD))

    page.goto(live.url + "/admin/tokens/#publishable")
    panel = page.locator("#ks-usage-publishable")
    expect(panel).to_have_attribute("data-ks-state", "drawn")
    expect(panel).to_have_attribute("data-ks-total", "16")
    assert drawn(panel)
    expect(panel.locator(".ks-usage-actions li")).to_have_text(
        ["billing.read \u2014 9", "projects.list \u2014 4", "members.invite \u2014 3"]
    )
    expect(panel.locator(".ks-usage-refused")).to_contain_text("members.invite \u2014 3")
    expect(panel.locator(".ks-usage-origins")).to_contain_text("https://shop.example \u2014 9")
    assert labels(panel) == 25  # 24 h of hours
    shot(page, shots / "19-usage-publishable.png", full_page=True)

    # The range selector asks again: other buckets, other totals.
    for range_, total, buckets in (("7d", "23", 169), ("1h", "16", 61), ("30d", "23", 31)):
        panel.locator(f"[data-ks-range='{range_}']").click()
        expect(panel).to_have_attribute("data-ks-range-shown", range_)
        expect(panel).to_have_attribute("data-ks-total", total)
        assert labels(panel) == buckets and drawn(panel)

    # Blacklist Action: the impact of billing.read before it is saved.
    page.get_by_role("button", name="Blacklist Action").click()
    modal = page.locator("#ks-blacklist-modal")
    modal.locator("#ks-bl-module").select_option("billing")
    modal.locator("#ks-bl-functionality").select_option("read")
    impact = modal.locator("#ks-bl-impact")
    expect(impact).to_have_attribute("data-ks-requests", "9")
    expect(impact).to_contain_text("Last 24h: 9 request(s) of the publishable key")
    expect(impact).to_contain_text("https://shop.example (9)")
    shot(page, shots / "20-blacklist-impact.png")
    modal.get_by_role("button", name="Cancel").click()
    assert Rule("billing", "read") not in store.list_rules(ws)  # nothing saved

    page.get_by_role("tab", name="SDK Access Key").click()
    sdk_panel = page.locator("#ks-usage-sdk")
    expect(sdk_panel).to_have_attribute("data-ks-total", "5")
    assert drawn(sdk_panel)
    page.get_by_role("tab", name="Tokens").click()
    token_panel = page.locator("#ks-usage-token")
    expect(token_panel).to_have_attribute("data-ks-total", "2")
    assert drawn(token_panel)
    row = page.locator(f"tr[data-key-id='{token.info.key_id}']")
    expect(row.locator("canvas")).to_have_attribute("data-ks-spark", "0,0,0,0,0,0,2")
    assert drawn(row)  # its 7-day sparkline
    shot(page, shots / "21-usage-token.png", full_page=True)


def test_a_workspace_without_traffic_draws_empty_charts_without_errors(
    page: Page, live: Live
) -> None:
    live.store.create_token(live.workspace.workspace_id, "unused", actor="test")
    page.goto(live.url + "/admin/tokens/#publishable")
    for name, tab in (("publishable", None), ("sdk", "SDK Access Key"), ("token", "Tokens")):
        if tab:
            page.get_by_role("tab", name=tab).click()
        panel = page.locator(f"#ks-usage-{name}")
        expect(panel).to_have_attribute("data-ks-state", "drawn")
        expect(panel).to_have_attribute("data-ks-total", "0")
    expect(page.locator("#ks-usage-publishable .ks-usage-summary")).to_contain_text(
        "No requests counted"
    )
    # The page fixture fails the test on any script error or CSP report.
