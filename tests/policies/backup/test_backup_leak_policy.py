"""A workspace's leak policy goes with its backup, checked on the way back in."""

from __future__ import annotations

import json

import pytest
import redis

from policies import KeystileError, PolicyStore
from policies.backup.document import sign
from policies.leaks.policy import LeakPolicy
from policies.operations import leaks
from tests.support.store import forget


def test_the_leak_policy_is_exported_and_restored(
    store: PolicyStore, redis_client: redis.Redis
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    chosen = LeakPolicy("notify", "revoke")
    store.run(leaks.set_policy(store.ctx, ws, chosen, actor="t"))
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    assert json.loads(document["meta"]["leak_policy"]) == chosen.as_dict()
    forget(redis_client, ws)
    store.import_workspace(document, actor="t")
    assert store.run(leaks.get_policy(store.ctx, ws)) == chosen


@pytest.mark.parametrize(
    "raw", ['{"sdk": "revoke", "tokens": "revoke"}', "roll", '{"sdk": "roll", "extra": "x"}']
)
def test_a_damaged_leak_policy_is_refused(
    store: PolicyStore, redis_client: redis.Redis, raw: str
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    document = json.loads(json.dumps(store.export_workspace(ws, actor="t")))
    document["meta"]["leak_policy"] = raw
    forget(redis_client, ws)
    with pytest.raises(KeystileError, match="leak_policy"):
        store.import_workspace(sign(store.ctx.keyring, document), actor="t")
    assert not redis_client.exists(f"ks:{{{ws}}}:meta")
