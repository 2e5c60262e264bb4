"""Leak reports against the real store: what each kind of key comes to under each policy,
that a repeat changes nothing more, and that nothing but a key of ours is written."""

from __future__ import annotations

import dataclasses

import pytest
import redis

from policies import PolicyStore
from policies.errors import KeystileError, UnknownWorkspace
from policies.keys import keyformat
from policies.keys.keyformat import KeyKind
from policies.leaks.policy import LeakPolicy, Outcome, Sighting
from policies.operations import leaks
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.support.admin import gateway_lookup
from tests.support.clock import ManualClock

GITHUB = Sighting("github", "https://github.com/acme/app/blob/abc/.env", "content")


def report(store: PolicyStore, key: str, seen: Sighting = GITHUB) -> Outcome:
    return store.run(leaks.report(store.ctx, key, seen))


def leaked_entries(store: PolicyStore, ws: str) -> list[dict[str, object]]:
    return [e.detail for e in store.audit_tail(ws, 100) if e.action == leaks.LEAKED]


def test_a_reported_token_is_revoked_once(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    assert report(store, token.token) is Outcome.REVOKED
    assert gateway_lookup(store, token.token) is None
    assert store.list_tokens(ws)[0].revoked is not None
    [detail] = leaked_entries(store, ws)
    assert detail == {
        "kind": "tk",
        "key_id": token.info.key_id,
        "location": GITHUB.where,
        "source": "content",
        "reporter": "github",
        "action": "revoked",
    }
    version = store.workspace(ws).version
    assert report(store, token.token) is Outcome.REPEAT  # nothing more: no entry, no write
    assert len(leaked_entries(store, ws)) == 1
    assert store.workspace(ws).version == version
    [record] = store.run(leaks.recent(store.ctx, ws))
    assert (record.kind, record.key_id, record.name, record.outcome) == (
        "tk",
        token.info.key_id,
        "ci",
        "revoked",
    )


def test_a_reported_sdk_key_is_rolled_without_grace(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert report(store, workspace.sdk_key) is Outcome.ROLLED
    assert gateway_lookup(store, workspace.sdk_key) is None
    new = store.reveal_sdk_key(ws, actor="test")  # only an admin's reveal shows the new key
    assert new != workspace.sdk_key and gateway_lookup(store, new) is not None
    actions = [e.action for e in store.audit_tail(ws, 10)]
    assert actions.index("key.leaked") < actions.index("sdk_key.rolled")  # newest first
    assert report(store, workspace.sdk_key) is Outcome.REPEAT
    assert store.reveal_sdk_key(ws, actor="test") == new  # not rolled again


def test_a_reported_sdk_key_in_its_grace_period_is_refused_now(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    new = store.roll_sdk_key(ws, actor="test", grace_seconds=3600)
    assert gateway_lookup(store, workspace.sdk_key) is not None  # in grace
    assert report(store, workspace.sdk_key) is Outcome.GRACE_ENDED
    assert gateway_lookup(store, workspace.sdk_key) is None
    assert gateway_lookup(store, new) is not None  # the current key stays


def test_notify_changes_nothing_but_is_recorded(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    assert store.run(leaks.set_policy(store.ctx, ws, LeakPolicy("notify", "notify"), actor="t"))
    token = store.create_token(ws, "ci", actor="test")
    assert report(store, token.token) is Outcome.NOTIFIED
    assert report(store, workspace.sdk_key) is Outcome.NOTIFIED
    assert gateway_lookup(store, token.token) is not None
    assert gateway_lookup(store, workspace.sdk_key) is not None
    assert [d["action"] for d in leaked_entries(store, ws)] == ["notified", "notified"]


def test_what_is_not_a_leak_writes_nothing(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    before = store.audit_tail(ws, 100)
    unknown = keyformat.generate(KeyKind.TOKEN, ws)  # the format and checksum, not a key
    elsewhere = keyformat.generate(KeyKind.SDK, keyformat.new_workspace_id())
    assert report(store, workspace.publishable_key) is Outcome.PUBLISHABLE
    assert report(store, unknown) is Outcome.UNKNOWN
    assert report(store, elsewhere) is Outcome.UNKNOWN
    key = workspace.sdk_key
    bad = key[:-1] + ("x" if key[-1] != "x" else "y")  # its checksum no longer holds
    assert report(store, bad) is Outcome.UNKNOWN
    assert report(store, "hello") is Outcome.UNKNOWN
    assert store.audit_tail(ws, 100) == before
    assert not redis_client.exists(schema.leaks(ws), schema.leak_reports(ws))
    assert gateway_lookup(store, workspace.publishable_key) is not None


def test_a_key_revoked_before_is_recorded_as_such(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    store.revoke_token(ws, token.info.key_id, actor="test")
    store.roll_sdk_key(ws, actor="test")
    assert report(store, token.token) is Outcome.ALREADY_REVOKED
    assert report(store, workspace.sdk_key) is Outcome.ALREADY_REVOKED
    assert [d["action"] for d in leaked_entries(store, ws)] == ["already_revoked"] * 2


def test_a_claim_left_pending_is_taken_over_once_stale(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    redis_client: redis.Redis,
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    digest = store.ctx.keyring.digest(token.token)
    redis_client.hset(schema.leaks(ws), digest, f"{clock()!r} pending")  # a process died
    assert report(store, token.token) is Outcome.PENDING  # being handled: not done yet
    assert gateway_lookup(store, token.token) is not None
    clock.advance(leaks.CLAIM_STALE + 1)
    assert report(store, token.token) is Outcome.REVOKED
    assert redis_client.hget(schema.leaks(ws), digest).endswith(" done")


def test_a_key_quoted_in_its_location_is_not_recorded(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    ws = workspace.workspace_id
    token = store.create_token(ws, "ci", actor="test")
    report(store, token.token, Sighting("gitlab", f"app.py:3: KEY={token.token}"))
    [detail] = leaked_entries(store, ws)
    assert token.token[3:] not in str(detail) and detail["location"] == "app.py:3: KEY=tk_…"


def test_policy_set_get_and_audit(store: PolicyStore, workspace: CreatedWorkspace) -> None:
    ws = workspace.workspace_id
    assert store.run(leaks.get_policy(store.ctx, ws)) == LeakPolicy()
    chosen = dataclasses.replace(LeakPolicy(), tokens="notify")
    assert store.run(leaks.set_policy(store.ctx, ws, chosen, actor="cli"))
    assert not store.run(leaks.set_policy(store.ctx, ws, chosen, actor="cli"))  # unchanged
    assert store.run(leaks.get_policy(store.ctx, ws)) == chosen
    entries = [e for e in store.audit_tail(ws, 10) if e.action == "leak_policy.set"]
    assert [e.detail for e in entries] == [{"sdk": "roll", "tokens": "notify"}]
    with pytest.raises(KeystileError):
        LeakPolicy(sdk="revoke")
    with pytest.raises(UnknownWorkspace):
        store.run(leaks.get_policy(store.ctx, keyformat.new_workspace_id()))


def test_the_list_is_bounded_newest_first(
    store: PolicyStore, workspace: CreatedWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaks, "MAX_REPORTS", 3)
    ws = workspace.workspace_id
    tokens = [store.create_token(ws, f"t{i}", actor="test") for i in range(5)]
    for token in tokens:
        report(store, token.token)
    names = [r.name for r in store.run(leaks.recent(store.ctx, ws))]
    assert names == ["t4", "t3", "t2"]


def test_a_damaged_policy_means_the_default(
    store: PolicyStore, workspace: CreatedWorkspace, redis_client: redis.Redis
) -> None:
    ws = workspace.workspace_id
    redis_client.hset(schema.meta(ws), "leak_policy", '{"sdk": "shrug"}')
    with pytest.raises(KeystileError):
        store.run(leaks.get_policy(store.ctx, ws))
    assert store.run(leaks.policy_in_force(store.ctx, ws)) == (LeakPolicy(), True)
    assert report(store, workspace.sdk_key) is Outcome.ROLLED
    chosen = LeakPolicy("notify", "notify")
    store.run(leaks.set_policy(store.ctx, ws, chosen, actor="t"))
    assert store.run(leaks.policy_in_force(store.ctx, ws)) == (chosen, False)
