import pytest

from policies import AsyncPolicyStore, KeyKind, PolicyStore, UnknownWorkspace
from policies.keys.keyformat import parse
from policies.storage.connections import async_client
from tests.support.clock import ManualClock
from tests.support.store import lookup, rotate_concurrently


def test_create_workspace_issues_two_working_keys(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="test")
    assert parse(created.publishable_key).workspace_id == created.workspace_id
    assert store.publishable_key(created.workspace_id) == created.publishable_key
    assert store.masked_sdk_key(created.workspace_id).endswith(created.sdk_key[-4:])
    pk = lookup(store, created.publishable_key)
    sk = lookup(store, created.sdk_key)
    assert pk is not None and pk.kind is KeyKind.PUBLISHABLE and pk.version == 1
    assert sk is not None and sk.kind is KeyKind.SDK
    assert [w.name for w in store.list_workspaces()] == ["Acme"]
    assert "sk_" not in repr(created) and created.sdk_key not in repr(created)


def test_unknown_workspace_is_a_clear_error(store: PolicyStore) -> None:
    with pytest.raises(UnknownWorkspace):
        store.publishable_key("ws_AAAAAAAAAAAA")
    with pytest.raises(UnknownWorkspace):
        store.rotate_publishable_key("ws_AAAAAAAAAAAA", actor="t")
    with pytest.raises(UnknownWorkspace):
        store.publishable_key("ws_*")  # never reaches a Redis key name


def test_rotation_kills_the_old_key_at_once(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="test")
    new = store.rotate_publishable_key(created.workspace_id, actor="test")
    assert lookup(store, created.publishable_key) is None
    policy = lookup(store, new)
    assert policy is not None and policy.version == 2
    assert store.publishable_key(created.workspace_id) == new


def test_twenty_concurrent_rotations_leave_exactly_one_key(
    store: PolicyStore, redis_url: str
) -> None:
    created = store.create_workspace("Acme", actor="test")
    issued = rotate_concurrently(store, redis_url, created.workspace_id)
    valid = [k for k in [created.publishable_key, *issued] if lookup(store, k) is not None]
    assert len(issued) == 20
    assert valid == [store.publishable_key(created.workspace_id)]
    assert store.workspace(created.workspace_id).version == 21


def test_sdk_roll_with_grace_period(store: PolicyStore, clock: ManualClock) -> None:
    created = store.create_workspace("Acme", actor="test")
    ws = created.workspace_id
    new = store.roll_sdk_key(ws, actor="test", grace_seconds=3600)
    old_policy = lookup(store, created.sdk_key)
    assert old_policy is not None
    assert old_policy.expires == clock() + 3600  # the gateway refuses it from then on
    assert lookup(store, new) is not None and lookup(store, new).expires is None  # type: ignore[union-attr]
    assert store.reveal_sdk_key(ws, actor="test") == new
    # A second roll ends the first grace period (one old key at most) ...
    newer = store.roll_sdk_key(ws, actor="test", grace_seconds=60)
    assert lookup(store, created.sdk_key) is None
    assert lookup(store, new) is not None
    # ... and a roll without grace kills the current key at once.
    store.roll_sdk_key(ws, actor="test")
    assert lookup(store, newer) is None and lookup(store, new) is None


def test_bad_grace_period(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="test")
    with pytest.raises(Exception, match="grace period"):
        store.roll_sdk_key(created.workspace_id, actor="t", grace_seconds=-1)


def test_reveal_is_audited_without_key_material(store: PolicyStore) -> None:
    created = store.create_workspace("Acme", actor="test")
    store.reveal_sdk_key(created.workspace_id, actor="admin:alice")
    entry = store.audit_tail(created.workspace_id, 1)[0]
    assert (entry.actor, entry.action) == ("admin:alice", "sdk_key.revealed")
    assert created.sdk_key not in repr(entry)


@pytest.mark.anyio
async def test_async_reader_sees_the_same_policy(store: PolicyStore, redis_url: str) -> None:
    created = store.create_workspace("Acme", actor="test")
    reader = AsyncPolicyStore(async_client(redis_url), store.ctx.keyring)
    try:
        policy = await reader.lookup(created.publishable_key)
        assert policy == lookup(store, created.publishable_key)
        assert await reader.versions([created.workspace_id, "ws_AAAAAAAAAAAA"]) == {
            created.workspace_id: 1,
            "ws_AAAAAAAAAAAA": 0,
        }
        assert (await reader.load_catalog()) == store.load_catalog()
    finally:
        await reader.client.aclose()
