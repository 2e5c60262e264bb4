"""The Tokens page's filters as indexes: kept by create, revoke and expiry, built for stores
from before them (or a restore's tokens) racing writers, a status or a text page as many
Redis calls at 20 tokens as at 400, and any token found however old."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from policies import Catalog, PolicyStore
from policies.listing import TOKEN_STATUSES, TokenQuery
from policies.operations import token_filters
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.catalog import DEMO_CATALOG
from tests.support.clock import ManualClock

QUERIES = (
    TokenQuery(status="revoked", limit=5),
    TokenQuery(status="active", offset=5, limit=5),
    TokenQuery(status="expired", limit=5),
    TokenQuery(text="svc-0", limit=5),
)  # a text with a status reads up to SEARCH_WINDOW matches: see the last test


def seed(store: PolicyStore, ws: str, clock: ManualClock, count: int, first: int = 0) -> list[str]:
    """``count`` tokens a second apart: every third expires in 10 s, every fifth revoked."""
    ids = []
    for n in range(first, first + count):
        expires = clock() + 10 if n % 3 == 0 else None
        ids.append(store.create_token(ws, f"svc-{n:04}", actor="t", expires=expires).info.key_id)
        clock.advance(1)
    for n in range(0, count, 5):
        store.revoke_token(ws, ids[n], actor="t")
    return ids


def answers(store: PolicyStore, ws: str) -> list[tuple[list[str], int]]:
    return [
        ([t.key_id for t in page.items], page.total)
        for page in (store.token_page(ws, q) for q in QUERIES)
    ]


def calls(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if not k.endswith("info"))


def test_statuses_and_terms_are_kept_by_every_writer(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    ids = seed(store, ws, clock, 30)
    revoked = store.token_page(ws, TokenQuery(status="revoked", limit=100))
    assert [t.key_id for t in revoked.items] == [ids[n] for n in range(25, -1, -5)]
    clock.advance(60)  # the expiring ones expire: moved by the next filtered read
    expired = store.token_page(ws, TokenQuery(status="expired", limit=100))
    assert [t.key_id for t in expired.items] == [
        ids[n] for n in range(29, -1, -1) if n % 3 == 0 and n % 5 != 0
    ]
    active = store.token_page(ws, TokenQuery(status="active", limit=100))
    assert active.total + expired.total + revoked.total == 30
    now = clock()
    for status in TOKEN_STATUSES:
        page = store.token_page(ws, TokenQuery(status=status, limit=100))
        assert {t.status(now) for t in page.items} <= {status}
    store.revoke_token(ws, ids[3], actor="t")  # an expired token revoked: revoked only
    assert ids[3] in [t.key_id for t in store.token_page(ws, TokenQuery(status="revoked")).items]
    assert ids[3] not in [
        t.key_id for t in store.token_page(ws, TokenQuery(status="expired")).items
    ]
    word = store.create_token(ws, "Nightly deploy-bot", actor="t").info.key_id
    for text in ("deploy", "BOT", "nightly deploy", word[:8], "Nightly"):
        assert [t.key_id for t in store.token_page(ws, TokenQuery(text=text)).items] == [word]
    assert store.token_page(ws, TokenQuery(text="ploy")).items == []  # not inside a word


@pytest.mark.single_redis  # one server's command counts
def test_the_oldest_token_is_found_and_pages_cost_the_same_at_any_size(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    ids = seed(store, ws, clock, 20)
    answers(store, ws)  # filters built, expiries moved: what is left is the reads
    redis_client.config_resetstat()
    small = answers(store, ws)
    at_20 = calls(redis_client)
    seed(store, ws, clock, 380, first=20)
    answers(store, ws)
    redis_client.config_resetstat()
    big = answers(store, ws)
    assert calls(redis_client) == at_20
    assert big[0][1] == 4 * small[0][1] * 5  # 80 revoked of 400
    oldest = ids[1]
    found = store.token_page(ws, TokenQuery(text=oldest))
    assert [t.key_id for t in found.items] == [oldest]
    assert found.unsearched == 0


def test_filters_missing_are_built_from_the_tokens_racing_a_revoke(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    clock: ManualClock,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = workspace.workspace_id
    ids = seed(store, ws, clock, 40)
    clock.advance(60)
    expected = answers(store, ws)
    keys = [schema.token_status(ws, s) for s in TOKEN_STATUSES]
    keys += [schema.token_expiry(ws), schema.token_terms(ws)]
    redis_client.delete(*keys)  # a store from before the filters (or a restore's)
    monkeypatch.setattr(token_filters, "STEP", 7)  # several steps
    store.revoke_token(ws, ids[1], actor="t")  # a writer before the build: one filed token
    rebuilt = answers(store, ws)
    assert rebuilt[0][1] == expected[0][1] + 1 and rebuilt[3:] == expected[3:]
    revoked = store.token_page(ws, TokenQuery(status="revoked", limit=100)).items
    assert ids[1] in [t.key_id for t in revoked]
    assert sum(redis_client.zcard(schema.token_status(ws, s)) for s in TOKEN_STATUSES) == 40


def test_text_and_status_search_a_bounded_window(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = workspace.workspace_id
    seed(store, ws, clock, 15)
    monkeypatch.setattr(token_filters, "SEARCH_WINDOW", 10)
    monkeypatch.setattr(token_filters, "STEP", 4)
    page = store.token_page(ws, TokenQuery(text="svc", status="active", limit=3, offset=3))
    assert [t.name for t in page.items] == ["svc-0006", "svc-0007", "svc-0008"]
    assert (page.total, page.unsearched) == (7, 5)  # 0, 5 revoked in the first 10
    alone = store.token_page(ws, TokenQuery(text="svc", limit=3))
    assert (alone.total, alone.unsearched) == (15, 0)


def test_a_restored_workspace_has_its_filters_built_by_the_first_read(
    store: PolicyStore, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    ids = seed(store, ws, clock, 12)
    clock.advance(60)
    expected = answers(store, ws)
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))
    store.import_workspace(document, actor="t")
    assert not redis_client.exists(schema.token_terms(ws))  # a restore brings tokens only
    assert answers(store, ws) == expected
    assert [t.key_id for t in store.token_page(ws, TokenQuery(text=ids[0])).items] == [ids[0]]


def test_the_index_command_builds_them_once(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, redis_client: redis.Redis
) -> None:
    """What ``keystile tokens index`` runs after an upgrade."""
    ws = workspace.workspace_id
    seed(store, ws, clock, 10)
    redis_client.delete(schema.token_terms(ws), schema.token_status(ws, "active"))
    assert store.index_tokens(ws) == 10
    assert redis_client.zcard(schema.token_status(ws, "active")) == 8  # 10 - 2 revoked
    assert redis_client.zcard(schema.token_terms(ws)) == 30  # key id, "svc-00nn", "00nn"
