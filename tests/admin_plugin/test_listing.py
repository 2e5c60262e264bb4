"""The Tokens page's long lists through Flask's test client: pages, filters, page sizes.

The trip (issue 16): a workspace with 2,000 tokens got a 1.2 MB page with every row, and
the activity panel showed the last 25 entries and nothing older.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from admin_plugin import KeystileAdmin, SmtpMailer
from bench.setup import create_tokens
from policies import ConfigError, PolicyStore
from policies.listing import TokenQuery
from policies.storage.values import CreatedWorkspace
from tests.support.admin import BASE, Who, make_host_app

DASH = "\u2013"  # the en dash of the page's counts
ROW_RE = re.compile(r'<tr data-key-id="([^"]+)">')
ENTRY_RE = re.compile(r'<tr data-entry-id="([^"]+)">')
LINK_RE = re.compile(r'href="([^"]+)"[^>]*data-ks-panel-link="(\w+)">([^<]+)<')


def links(html: str) -> dict[str, str]:
    """Page links of a panel, by label: their URL (entities undone)."""
    return {label.strip(): href.replace("&amp;", "&") for href, _, label in LINK_RE.findall(html)}


@pytest.fixture
def client(store: PolicyStore, who: Who, mailer: SmtpMailer) -> FlaskClient:
    app: Flask = make_host_app(store, who, mailer, tokens_per_page=10, audit_per_page=7)
    return app.test_client()


def test_tokens_a_page_at_a_time(
    client: FlaskClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    create_tokens(store, ws, 25)
    page = client.get(BASE).get_data(as_text=True)
    first = ROW_RE.findall(page)
    assert len(first) == 10
    assert f"1{DASH}10 of 25" in page and "Page 1 of 3" in page
    next_url = links(page)["Next"]
    assert next_url.startswith(BASE + "?") and "tpage=2" in next_url
    second = client.get(next_url).get_data(as_text=True)  # a plain link: no script needed
    assert f"11{DASH}20 of 25" in second
    third = client.get(f"{BASE}panel/tokens?ws={ws}&tpage=3").get_data(as_text=True)
    rows = ROW_RE.findall(second) + ROW_RE.findall(third)
    assert len(set(first + rows)) == 25 and f"21{DASH}25 of 25" in third
    assert "Next</span>" in third  # the last page: no link onwards


def test_a_revoked_token_stays_findable(
    client: FlaskClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    create_tokens(store, ws, 30)
    (revoked,) = store.token_page(ws, TokenQuery(text="bench-3")).items  # bench-3 alone
    store.revoke_token(ws, revoked.key_id, actor="t")
    by_status = client.get(f"{BASE}?ws={ws}&tstatus=revoked").get_data(as_text=True)
    assert ROW_RE.findall(by_status) == [revoked.key_id] and f"1{DASH}1 of 1 matching" in by_status
    by_id = client.get(f"{BASE}panel/tokens?ws={ws}&tq={revoked.key_id[:12]}").get_data(True)
    assert ROW_RE.findall(by_id) == [revoked.key_id] and "revoked" in by_id
    by_name = client.get(f"{BASE}panel/tokens?ws={ws}&tq=BENCH-2&tstatus=active").get_data(True)
    assert len(ROW_RE.findall(by_name)) == 10 and f"1{DASH}10 of 11 matching" in by_name
    nothing = client.get(f"{BASE}panel/tokens?ws={ws}&tq=zzz").get_data(as_text=True)
    assert "No token matches" in nothing and "No tokens yet" not in nothing


@pytest.mark.parametrize(
    "query", ["tstatus=deleted", "tpage=0", "tpage=abc", "abefore=yesterday", "tq=%00"]
)
def test_bad_list_arguments(client: FlaskClient, workspace: CreatedWorkspace, query: str) -> None:
    ws = workspace.workspace_id
    panel = "audit" if query.startswith("a") else "tokens"
    answer = client.get(f"{BASE}panel/{panel}?ws={ws}&{query}")
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.get_json()["code"] == "invalid"
    # The page itself shows the lists unfiltered rather than fail.
    assert client.get(f"{BASE}?ws={ws}&{query}").status_code == 200


def test_the_activity_pages_back_through_everything_retained(
    client: FlaskClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    for n in range(40):
        store.audit(ws, "cli" if n % 2 else "admin:alice@acme.test", f"probe.n{n % 4}", {"n": n})
    seen: list[str] = []
    url: str | None = BASE
    while url is not None:
        html = client.get(url).get_data(as_text=True)
        seen += ENTRY_RE.findall(html)
        url = links(html).get("Older")
    assert len(seen) == 41 == len(set(seen))  # 40 probes and workspace.created
    assert seen == sorted(seen, key=lambda i: tuple(map(int, i.split("-"))), reverse=True)
    filtered = client.get(f"{BASE}panel/audit?ws={ws}&aaction=probe.n1&aactor=cli").get_data(True)
    assert len(ENTRY_RE.findall(filtered)) == 7 and "Older" in filtered
    older = client.get(links(filtered)["Older"]).get_data(as_text=True)
    assert len(ENTRY_RE.findall(older)) == 3 and "Older" not in older and "Newest" in older
    family = client.get(f"{BASE}panel/audit?ws={ws}&aaction=probe.*&aactor=admin:*").get_data(True)
    assert len(ENTRY_RE.findall(family)) == 7
    assert "n</dt><dd>38" in family  # the newest admin probe first


def test_page_sizes_are_checked_at_construction(store: PolicyStore, mailer: SmtpMailer) -> None:
    for bad in (0, 1001, True):
        with pytest.raises(ConfigError, match="tokens_per_page"):
            KeystileAdmin(
                store=store, current_admin=lambda: None, mailer=mailer, tokens_per_page=bad
            )
    with pytest.raises(ConfigError, match="audit_per_page"):
        KeystileAdmin(store=store, current_admin=lambda: None, mailer=mailer, audit_per_page=-1)


def test_two_thousand_tokens_make_a_small_page(
    client: FlaskClient, store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """The issue's workspace: 2,000 tokens made a 1.2 MB page. Now one page of rows."""
    create_tokens(store, workspace.workspace_id, 2000)
    page = client.get(BASE)
    assert page.status_code == 200
    assert len(ROW_RE.findall(page.get_data(as_text=True))) == 10
    assert f"1{DASH}10 of 2,000" in page.get_data(as_text=True)
    assert len(page.data) < 60_000, len(page.data)
