"""Long lists a page at a time, against a real Redis (single server or cluster)."""

from __future__ import annotations

import pytest

from policies import KeystileError, PolicyStore
from policies.listing import AuditQuery, TokenQuery
from policies.operations.listing import BATCH
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock


@pytest.fixture
def many(store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock) -> list[str]:
    """30 tokens, a second apart: every third expires, every fifth is revoked."""
    ws = workspace.workspace_id
    ids = []
    for n in range(30):
        expires = clock() + 10 if n % 3 == 0 else None
        ids.append(store.create_token(ws, f"svc-{n:02}", actor="t", expires=expires).info.key_id)
        clock.advance(1)
    for n in range(0, 30, 5):
        store.revoke_token(ws, ids[n], actor="t")
    clock.advance(60)  # the expiring ones are now expired
    return ids


def test_token_pages_newest_first_with_totals(
    store: PolicyStore, workspace: CreatedWorkspace, many: list[str]
) -> None:
    ws = workspace.workspace_id
    first = store.token_page(ws, TokenQuery(limit=12))
    assert [t.name for t in first.items] == [f"svc-{n:02}" for n in range(29, 17, -1)]
    assert (first.total, first.pages, first.number) == (30, 3, 1)
    last = store.token_page(ws, TokenQuery(offset=24, limit=12))
    assert [t.name for t in last.items] == [f"svc-{n:02}" for n in range(5, -1, -1)]
    assert (last.number, last.first_shown, last.last_shown) == (3, 25, 30)
    assert store.token_page(ws, TokenQuery(offset=60, limit=12)).items == []


def test_token_filters_keep_revoked_tokens_findable(
    store: PolicyStore, workspace: CreatedWorkspace, many: list[str], clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    revoked = store.token_page(ws, TokenQuery(status="revoked"))
    assert sorted(t.name for t in revoked.items) == [f"svc-{n:02}" for n in range(0, 30, 5)]
    expired = store.token_page(ws, TokenQuery(status="expired"))
    assert {t.name for t in expired.items} == {f"svc-{n:02}" for n in range(0, 30, 3) if n % 5 != 0}
    active = store.token_page(ws, TokenQuery(status="active"))
    assert active.total == 30 - revoked.total - expired.total
    assert all(t.status(clock()) == "active" for t in active.items)
    # By the start of a name's word (any case, in name order) or of a key id; with a
    # status too.
    assert [t.name for t in store.token_page(ws, TokenQuery(text="SVC-1")).items] == [
        f"svc-{n}" for n in range(10, 20)
    ]
    by_word = store.token_page(ws, TokenQuery(text="07")).items  # a word: "07" of "svc-07"
    # Exactly svc-07 and the tokens whose key id starts with "07" (svc-07's own may: 1 in 256).
    assert "svc-07" in [t.name for t in by_word]
    assert [t.name for t in by_word if t.name != "svc-07"] == [
        t.name for t in by_word if t.name != "svc-07" and t.key_id.startswith("07")
    ]
    assert [t.key_id for t in store.token_page(ws, TokenQuery(text=many[10][:10])).items] == [
        many[10]
    ]
    both = store.token_page(ws, TokenQuery(text="svc-2", status="revoked"))
    assert [t.name for t in both.items] == ["svc-20", "svc-25"]


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "deleted"},
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"text": "a\x00b"},
        {"text": "x" * 201},
    ],
)
def test_bad_token_queries_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(KeystileError):
        TokenQuery(**bad)  # type: ignore[arg-type]


def test_audit_pages_back_through_the_whole_log(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    """More entries than one batch, filtered by action and actor; every entry seen once."""
    ws = workspace.workspace_id
    total = BATCH * 2 + 37
    for n in range(total):
        actor = "admin:alice@acme.test" if n % 2 else "cli"
        store.audit(ws, actor, "probe.odd" if n % 3 else "probe.third", {"n": n})
    seen: list[int] = []
    before = None
    while True:
        page = store.audit_page(ws, AuditQuery(action="probe.*", before=before, limit=100))
        seen += [e.detail["n"] for e in page.entries]
        if page.older is None:
            break
        before = page.older
    assert seen == list(range(total - 1, -1, -1))

    def walk(query: AuditQuery) -> list[int]:
        numbers, cursor = [], None
        while True:
            page = store.audit_page(ws, AuditQuery(query.action, query.actor, cursor, query.limit))
            numbers += [e.detail["n"] for e in page.entries]
            if page.older is None:
                return numbers
            cursor = page.older

    third_by_cli = walk(AuditQuery(action="probe.third", actor="cli", limit=7))
    assert third_by_cli == [n for n in range(total - 1, -1, -1) if n % 3 == 0 and n % 2 == 0]
    assert walk(AuditQuery(actor="admin:*", limit=250)) == [
        n for n in range(total - 1, -1, -1) if n % 2
    ]
    # A page that ends exactly where the matches end offers no "older" page.
    exact = store.audit_page(ws, AuditQuery(action="workspace.created", limit=1))
    assert len(exact.entries) == 1 and exact.older is None
    assert store.audit_page(ws, AuditQuery(action="nothing.like.this")).entries == []


@pytest.mark.parametrize("bad", [{"before": "+"}, {"before": "abc"}, {"limit": 0}])
def test_bad_audit_queries_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(KeystileError):
        AuditQuery(**bad)  # type: ignore[arg-type]
