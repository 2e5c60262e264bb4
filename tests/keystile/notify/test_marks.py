"""Notices given at most once, by the store's (injected) clock: a key refused for its rate
limit once an hour, a token expiring within 7 days once per expiry."""

from __future__ import annotations

from policies import PolicyStore
from policies.operations import notify, notify_marks
from policies.storage.values import CreatedWorkspace
from tests.keystile.notify.conftest import worker_for
from tests.keystile.notify.test_worker import subscribe
from tests.support.clock import ManualClock
from tests.support.webhooks import Receiver

DAY = 86400


def actions(store: PolicyStore, ws: str, action: str) -> int:
    return sum(1 for e in store.audit_tail(ws, 100) if e.action == action)


def test_a_rate_limited_key_is_noticed_at_most_once_an_hour(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, receiver: Receiver
) -> None:
    ws = workspace.workspace_id
    subscribe(store, ws, receiver)
    note = notify_marks.note_rate_limited
    assert store.run(note(store.ctx, ws, "k1", "token"))
    clock.advance(3599)
    assert not store.run(note(store.ctx, ws, "k1", "token"))
    assert store.run(note(store.ctx, ws, "k2", "token"))  # another key: its own hour
    clock.advance(1)
    assert store.run(note(store.ctx, ws, "k1", "token"))
    assert actions(store, ws, "key.rate_limited") == 3
    assert store.run(notify.settings(store.ctx, ws)).pending == 3
    worker_for(store).deliver(ws)
    got = receiver.take(3)
    assert [d.event["data"]["key_id"] for d in got] == ["k1", "k2", "k1"]


def test_a_token_expiring_within_7_days_is_noticed_once(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, receiver: Receiver
) -> None:
    ws = workspace.workspace_id
    subscribe(store, ws, receiver)
    soon = store.create_token(ws, "soon", actor="test", expires=clock() + 8 * DAY)
    store.create_token(ws, "later", actor="test", expires=clock() + 30 * DAY)
    gone = store.create_token(ws, "gone", actor="test", expires=clock() + 3 * DAY)
    store.revoke_token(ws, gone.info.key_id, actor="test")
    scan = notify_marks.note_expiring
    assert store.run(scan(store.ctx)) == 0  # 8 days away
    clock.advance(DAY + 1)
    assert store.run(scan(store.ctx)) == 1
    clock.advance(3600)
    assert store.run(scan(store.ctx)) == 0  # once per token and expiry
    assert actions(store, ws, "token.expiring") == 1
    [entry] = [e for e in store.audit_tail(ws, 100) if e.action == "token.expiring"]
    assert entry.detail["key_id"] == soon.info.key_id


def test_a_mark_for_an_unknown_workspace_writes_nothing(store: PolicyStore) -> None:
    ws = "ws_" + "A" * 12
    assert not store.run(notify_marks.note_rate_limited(store.ctx, ws, "k", "sdk"))
    assert not store.client.keys("ks:{ws_AAAAAAAAAAAA}*")


def test_a_damaged_token_record_stops_neither_the_scan_nor_the_worker(
    store: PolicyStore, workspace: CreatedWorkspace, clock: ManualClock, receiver: Receiver
) -> None:
    """A token record that cannot be read (a hand edit, a half-restored store) in one
    workspace: the others' expiring tokens are still noticed, and the worker runs on."""
    other = store.create_workspace("other", actor="test").workspace_id
    damaged, fine = sorted((workspace.workspace_id, other))  # the damaged one scanned first
    subscribe(store, fine, receiver)
    soon = store.create_token(fine, "soon", actor="test", expires=clock() + 3 * DAY)
    store.create_token(damaged, "ok", actor="test", expires=clock() + 3 * DAY)
    store.client.hset(f"ks:{{{damaged}}}:tokens", "broken", "not a token")
    worker_for(store).tick()  # its first turn scans for expiring tokens, then delivers
    got = receiver.take(2)
    assert receiver.types(got) == ["token.created", "token.expiring"]
    assert got[1].event["data"]["key_id"] == soon.info.key_id
    assert actions(store, damaged, "token.expiring") == 1  # its readable token too
