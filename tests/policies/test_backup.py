import json

import pytest
import redis

from policies import KeystileError, PolicyStore, Rule
from tests.policies.helpers import lookup


def test_round_trip_into_an_empty_redis(store: PolicyStore, redis_client: redis.Redis) -> None:
    created = store.create_workspace("Acme", actor="t")
    ws = created.workspace_id
    store.add_rule(ws, Rule("billing", "read"), actor="t")
    token = store.create_token(ws, "ci", actor="t").token
    store.put_secret(ws, "S", "value", actor="t")
    document = json.loads(json.dumps(store.export_workspace(ws)))
    assert created.publishable_key not in json.dumps(document)
    redis_client.flushall()
    assert store.import_workspace(document, actor="t") == ws
    assert lookup(store, created.publishable_key) is not None
    assert lookup(store, created.sdk_key) is not None
    assert lookup(store, token) is not None
    policy = lookup(store, created.publishable_key)
    assert policy is not None and Rule("billing", "read") in policy.rules
    assert store.reveal_secret(ws, "S", actor="t") == "value"
    assert store.load_catalog() is not None
    assert [w.workspace_id for w in store.list_workspaces()] == [ws]
    with pytest.raises(KeystileError, match="already exists"):
        store.import_workspace(document, actor="t")


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("meta"),
        lambda d: d.update(format="x"),
        lambda d: d.update(rules="x"),
        lambda d: d.update(workspace_id="ws_../"),
        lambda d: d.update(rules=["nope"]),
        lambda d: d["keys"].update(x=1),
    ],
)
def test_damaged_backups_write_nothing(
    store: PolicyStore, redis_client: redis.Redis, damage: object
) -> None:
    ws = store.create_workspace("Acme", actor="t").workspace_id
    document = store.export_workspace(ws)
    redis_client.flushall()
    damage(document)  # type: ignore[operator]
    with pytest.raises(KeystileError):
        store.import_workspace(document, actor="t")
    assert redis_client.dbsize() == 0
