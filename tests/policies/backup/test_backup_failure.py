"""A restore that fails midway (Redis refuses a write: out of memory) leaves nothing behind,
live or staged, and the same backup restores once Redis accepts writes again."""

from __future__ import annotations

import pytest
import redis

from policies import PolicyStore, StoreUnavailable
from policies.storage import schema
from tests.support.store import big_backup, forget, lookup


@pytest.mark.single_redis  # sets one server's maxmemory
def test_a_restore_cut_short_by_redis_leaves_nothing(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    created, document = big_backup(store, 30_000)
    ws = created.workspace_id
    forget(redis_client, ws)
    used = int(redis_client.info("memory")["used_memory"])
    redis_client.config_set("maxmemory", used + 2_000_000)  # the staging outgrows it
    try:
        with pytest.raises(StoreUnavailable, match="maxmemory"):
            store.import_workspace(document, actor="t")
        assert not list(redis_client.scan_iter("*staging*"))
        assert not list(redis_client.scan_iter(match=f"ks:{{{ws}}}:*"))
    finally:
        redis_client.config_set("maxmemory", 0)
    assert store.import_workspace(document, actor="t").workspace_id == ws
    assert lookup(store, created.publishable_key) is not None
    assert redis_client.hlen(schema.tokens(ws)) == 30_000
