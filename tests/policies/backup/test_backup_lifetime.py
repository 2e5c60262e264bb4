"""Backups carry the token lifetime policy: checked like every section, restored with the
workspace in its one step; tokens beyond it are restored as they are and counted out of
policy; the unused view works on the restored workspace (its index rebuilt)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from policies import Catalog, KeystileError, PolicyStore
from policies.backup.document import sign
from policies.lifetime import DAY, FIELD, LifetimePolicy
from policies.storage import schema
from tests.support.catalog import DEMO_CATALOG
from tests.support.clock import ManualClock


def exported(store: PolicyStore, ws: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    return document


def empty_redis(store: PolicyStore, redis_client: redis.Redis) -> None:
    redis_client.flushall()
    store.save_catalog(Catalog.from_dict(DEMO_CATALOG))


def test_the_policy_round_trips_and_tokens_beyond_it_are_kept_and_counted(
    store: PolicyStore, redis_client: redis.Redis, clock: ManualClock
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    forever = store.create_token(ws, "forever", actor="t").info
    store.create_token(ws, "monthly", actor="t", expires=clock() + 30 * DAY)
    store.lifetime.set_policy(ws, LifetimePolicy(90, True), actor="t")
    document = exported(store, ws)
    assert document["lifetime_policy"] == {"max_token_days": 90, "require_expiry": True}
    assert FIELD not in document["meta"]  # its own section, not a meta field
    clock.advance(91 * DAY)
    empty_redis(store, redis_client)
    restored = store.import_workspace(document, actor="t", max_age=100 * DAY)
    assert restored.out_of_policy == 1
    assert store.lifetime.policy(ws) == LifetimePolicy(90, True)
    policy, tokens = store.lifetime.policy(ws), {t.name: t for t in store.list_tokens(ws)}
    assert policy.violation(tokens["forever"], clock()) == "never expires (maximum 90 days)"
    assert [t.key_id for t in store.lifetime.unused(ws, 90).items] == [forever.key_id]
    assert redis_client.zscore(schema.token_activity(ws), "~built") is not None


def test_a_backup_without_a_policy_restores_none(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    document = exported(store, ws)
    assert document["lifetime_policy"] is None
    del document["lifetime_policy"]  # as made before the policy existed
    document = sign(store.ctx.keyring, document)
    empty_redis(store, redis_client)
    assert store.import_workspace(document, actor="t").out_of_policy == 0
    assert store.lifetime.policy(ws).empty
    assert redis_client.hget(schema.meta(ws), FIELD) is None


@pytest.mark.parametrize(
    "policy",
    [
        {"max_token_days": 0, "require_expiry": False},
        {"max_token_days": 3651, "require_expiry": False},
        {"max_token_days": "90", "require_expiry": False},
        {"max_token_days": 90, "require_expiry": "yes"},
        {"max_token_days": 90},
        {"max_token_days": 90, "require_expiry": True, "extra": 1},
        [90, True],
        "90",
    ],
)
def test_a_policy_the_live_operation_would_refuse_refuses_the_restore(
    store: PolicyStore, redis_client: redis.Redis, policy: object
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    document = exported(store, ws)
    document["lifetime_policy"] = policy
    document = sign(store.ctx.keyring, document)  # signed: only the check can refuse it
    empty_redis(store, redis_client)
    with pytest.raises(KeystileError, match="backup refused: its lifetime_policy"):
        store.import_workspace(document, actor="t")
    assert redis_client.exists(schema.meta(ws)) == 0


def test_a_damaged_stored_policy_is_not_exported(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    redis_client.hset(schema.meta(ws), FIELD, "{")
    with pytest.raises(KeystileError, match="lifetime policy is damaged: set it again"):
        store.export_workspace(ws, actor="t")
