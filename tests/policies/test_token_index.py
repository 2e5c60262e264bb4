"""The tokens' sorted index: kept by create, built for deployments from before it (also by
readers racing writers)."""

from __future__ import annotations

import threading

import redis

from policies import PolicyStore
from policies.listing import TokenQuery
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.clock import ManualClock


def names(store: PolicyStore, ws: str, query: TokenQuery) -> list[str]:
    return [t.name for t in store.token_page(ws, query).items]


def test_create_keeps_the_index_and_pages_are_ranges_of_it(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    ids = []
    for n in range(7):
        ids.append(store.create_token(ws, f"t{n}", actor="t").info.key_id)
        clock.advance(1)
    store.revoke_token(ws, ids[3], actor="t")  # a revoked token keeps its place
    index = redis_client.zrange(schema.token_index(ws), 0, -1)
    assert index == list(reversed(ids))
    assert names(store, ws, TokenQuery(offset=2, limit=3)) == ["t4", "t3", "t2"]
    assert store.token_page(ws, TokenQuery(offset=2, limit=3)).total == 7


def test_an_index_missing_or_short_is_built_from_the_tokens(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws = workspace.workspace_id
    for n in range(2500):  # more than one HSCAN step
        clock.advance(1)
        store.create_token(ws, f"t{n:04}", actor="t")
    expected = names(store, ws, TokenQuery(limit=1000))
    redis_client.delete(schema.token_index(ws))  # as a deployment from before the index
    assert names(store, ws, TokenQuery(limit=1000)) == expected
    assert redis_client.zcard(schema.token_index(ws)) == 2500
    redis_client.zpopmin(schema.token_index(ws), 700)  # the newest 700 gone: short
    assert names(store, ws, TokenQuery(limit=1000)) == expected


def test_readers_building_the_index_race_writers(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    for n in range(1500):
        store.create_token(ws, f"old{n}", actor="t")
    redis_client.delete(schema.token_index(ws))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(3):
                store.token_page(ws, TokenQuery())
        except BaseException as error:
            errors.append(error)

    def write() -> None:
        for n in range(100):
            store.create_token(ws, f"new{n}", actor="t")

    threads = [threading.Thread(target=read) for _ in range(3)]
    threads.append(threading.Thread(target=write))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    held = set(redis_client.hkeys(schema.tokens(ws)))
    assert set(redis_client.zrange(schema.token_index(ws), 0, -1)) == held
    assert store.token_page(ws, TokenQuery(limit=1000)).total == 1600


def test_a_damaged_created_time_sorts_last(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    first = store.create_token(ws, "first", actor="t").info.key_id
    store.create_token(ws, "second", actor="t")
    raw = redis_client.hget(schema.tokens(ws), first) or ""
    redis_client.hset(schema.tokens(ws), first, raw.replace('"created":', '"created":"x","was":'))
    redis_client.delete(schema.token_index(ws))
    assert names(store, ws, TokenQuery()) == ["second", "first"]
