"""The delivery worker against a real receiver (signatures checked by ``standardwebhooks``)
and a real SMTP server: every notifiable change arrives, failures are retried with the same
``webhook-id`` until they land or become dead letters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from admin_plugin import SmtpMailer
from keystile.notify.worker import NotifyWorker
from policies import PolicyStore
from policies.leaks.policy import LeakPolicy, Sighting
from policies.leaks.policy import Outcome as Leak
from policies.notify.endpoints import EndpointRefused
from policies.notify.webhooks import Outcome
from policies.operations import leaks, notify, notify_queue
from policies.operations.base import apply_call
from policies.storage import schema
from policies.storage.values import CreatedWorkspace
from tests.keystile.notify.conftest import OPTIONS, worker_for
from tests.support.admin import Inbox
from tests.support.clock import ManualClock
from tests.support.webhooks import Receiver, body_text


def subscribe(store: PolicyStore, ws: str, receiver: Receiver, emails: list[str] = []) -> None:  # noqa: B006
    receiver.secret = store.run(
        notify.set_endpoint(store.ctx, ws, receiver.url, OPTIONS.endpoints, actor="test")
    )
    if emails:
        store.run(notify.set_emails(store.ctx, ws, emails, actor="test"))


@pytest.fixture
def running() -> Iterator[list[NotifyWorker]]:
    """Start workers with ``running.append(worker)``; each runs in a thread until the end."""
    stop, threads, workers = threading.Event(), [], []

    class Starter(list[NotifyWorker]):
        def append(self, worker: NotifyWorker) -> None:
            thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            thread.start()
            threads.append(thread)
            super().append(worker)

    yield Starter(workers)
    stop.set()
    for thread in threads:
        thread.join(10)


def test_every_notifiable_change_arrives_signed_and_by_mail(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    mailer: SmtpMailer,
    smtp: tuple[Inbox, int],
) -> None:
    ws = workspace.workspace_id
    subscribe(store, ws, receiver, ["ops@acme.test"])
    created = store.create_token(ws, "ci", actor="admin:alice@acme.test")
    store.revoke_token(ws, created.info.key_id, actor="admin:alice@acme.test")
    store.reveal_sdk_key(ws, actor="admin:alice@acme.test")
    new_sdk = store.roll_sdk_key(ws, actor="admin:alice@acme.test")
    new_pk = store.rotate_publishable_key(ws, actor="admin:alice@acme.test")
    store.audit(ws, "leak-report:github", "key.leaked", {"key_id": "abc", "url": "https://x"})
    worker = worker_for(store, mailer)
    while worker.tick():
        pass
    got = receiver.take(6)
    assert receiver.types(got) == [
        "token.created",
        "token.revoked",
        "sdk_key.revealed",
        "sdk_key.rolled",
        "publishable_key.rotated",
        "key.leaked",
    ]
    assert len({d.msg_id for d in got}) == 6 and receiver.forged == 0
    assert got[0].event["data"]["key_id"] == created.info.key_id
    assert all(d.event["data"]["workspace_id"] == ws for d in got)
    for secret in (created.token, workspace.sdk_key, new_sdk, new_pk, workspace.publishable_key):
        assert all(secret not in body_text(d) for d in got)  # key ids only
    inbox = smtp[0]
    subjects = [inbox.next().get("Subject", "") for _ in range(6)]
    assert "a token was created" in subjects[0] and "reported leaked" in subjects[5]
    state = store.run(notify.settings(store.ctx, ws))
    assert state.pending == 0 and state.channels["webhook"].delivered == 6
    assert state.channels["mail"].delivered == 6


def test_a_workspace_without_channels_queues_nothing(
    store: PolicyStore, workspace: CreatedWorkspace
) -> None:
    store.create_token(workspace.workspace_id, "ci", actor="test")
    assert store.run(notify.settings(store.ctx, workspace.workspace_id)).pending == 0


def test_a_receiver_down_for_a_while_gets_every_event_after_it_returns(
    live: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    running: list[NotifyWorker],
) -> None:
    ws = workspace.workspace_id
    subscribe(live, ws, receiver)
    receiver.stop()
    ids = [live.create_token(ws, f"t{i}", actor="test").info.key_id for i in range(5)]
    worker = worker_for(live)
    while live.run(notify.settings(live.ctx, ws)).channels["webhook"].status == "":
        worker.tick()  # tries, fails, schedules a retry: no sleep, the retry is due soon
    failed = live.run(notify.settings(live.ctx, ws)).channels["webhook"]
    assert failed.status == "failed" and "refused" in failed.error and failed.next_retry
    receiver.start()
    running.append(worker_for(live))
    running.append(worker_for(live))  # two workers: leases keep them from racing
    got = receiver.take(5)
    assert sorted(d.event["data"]["key_id"] for d in got) == sorted(ids)
    assert len({d.msg_id for d in got}) == 5


def test_a_failing_endpoint_costs_one_try_per_turn_not_one_per_event(
    store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    """Once an endpoint fails, the batch's other webhooks wait with the failed one, untried
    (a hanging endpoint would otherwise hold the worker a timeout per event, every turn)."""
    ws = workspace.workspace_id
    subscribe(store, ws, receiver, ["ops@acme.test"])
    receiver.stop()
    for i in range(5):
        store.create_token(ws, f"t{i}", actor="test")
    worker = worker_for(store)
    tried: list[str] = []
    attempt = worker.attempt

    def counted(ws: str, claimed: Any, delivery: Any) -> Outcome:
        tried.append(delivery.channel)
        return attempt(ws, claimed, delivery)

    worker.attempt = counted  # type: ignore[method-assign]
    assert worker.deliver(ws) == 10  # five events, two channels each
    assert tried.count("webhook") == 1  # no mailer here: every mail is tried (and fails)
    assert tried.count("mail") == 5
    tries = store.client.hgetall(f"ks:{{{ws}}}:notify:tries")
    webhook_tries = [int(n) for member, n in tries.items() if member.startswith("webhook")]
    assert webhook_tries == [1]  # the four held back were not counted as tried
    state = store.run(notify.settings(store.ctx, ws))
    assert state.pending == 10 and state.channels["webhook"].next_retry


def test_a_failing_endpoint_ends_as_a_dead_letter(
    live: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    ws = workspace.workspace_id
    subscribe(live, ws, receiver)
    receiver.status = 500
    live.create_token(ws, "ci", actor="test")
    worker = worker_for(live, max_attempts=3)
    while live.run(notify.settings(live.ctx, ws)).dead == 0:
        worker.tick()
    state = live.run(notify.settings(live.ctx, ws))
    assert state.pending == 0 and state.channels["webhook"].status == "500"
    [letter] = state.dead_letters
    assert letter["type"] == "token.created" and letter["tries"] == 3
    assert letter["error"] == "HTTP 500"


def test_the_queue_is_bounded_and_counts_what_it_drops(
    store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    ws = workspace.workspace_id
    subscribe(store, ws, receiver)
    for _ in range(1003):
        store.reveal_sdk_key(ws, actor="test")
    state = store.run(notify.settings(store.ctx, ws))
    assert state.pending == 1000 and state.dropped == 3


def test_retries_back_off_exponentially_with_jitter(store: PolicyStore) -> None:
    worker = worker_for(store, retry_base=10, retry_cap=300)
    for tries, full in ((1, 10), (2, 20), (3, 40), (6, 300), (20, 300)):
        waits = [worker.backoff(tries) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits)
        assert len(set(waits)) > 1


def test_the_index_is_repaired_by_the_sweep(
    store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    """A crash between a step and its index write: the worker's sweep finds the queue."""
    ws = workspace.workspace_id
    subscribe(store, ws, receiver)
    store.create_token(ws, "ci", actor="test")
    store.client.delete("ks:notify:pending")
    assert store.run(notify_queue.due_workspaces(store.ctx, 10)) == []
    worker = worker_for(store)
    worker.tick()
    assert receiver.types(receiver.take(1)) == ["token.created"]


def test_deliveries_a_lease_cannot_cover_are_given_back_untried(
    store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver, clock: ManualClock
) -> None:
    """A worker whose lease would run out before a delivery's bound hands it back, untried
    (no try counted), rather than race the worker that would take it over."""
    ws = workspace.workspace_id
    subscribe(store, ws, receiver)
    store.create_token(ws, "one", actor="test")
    store.create_token(ws, "two", actor="test")
    worker = worker_for(store, timeout=4, lease=12.5)  # one delivery's bound: 3 x 4 s
    attempt = worker.attempt

    def slow(*args: Any) -> Outcome:  # each delivery takes 5 s of the store's clock
        clock.advance(5)
        return attempt(*args)

    worker.attempt = slow  # type: ignore[method-assign]
    assert worker.deliver(ws) == 2  # claimed two, tried one, gave one back
    assert [d.event["data"]["name"] for d in receiver.take(1)] == ["one"]
    assert store.run(notify.settings(store.ctx, ws)).pending == 1
    assert store.client.hlen(f"ks:{{{ws}}}:notify:tries") == 0  # no try counted
    worker.deliver(ws)
    assert [d.event["data"]["name"] for d in receiver.take(1)] == ["two"]


def test_a_notice_from_any_write_step_is_picked_up_at_once(
    live: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver
) -> None:
    """A write step that queues a notice but skips the index (another session's operation,
    or a crash just after the step): the events channel's hint brings the worker at once,
    long before its sweep."""
    ws = workspace.workspace_id
    subscribe(live, ws, receiver)
    worker = worker_for(live, sweep_interval=3600, poll=30)
    worker.tick()  # its first sweep, done: the next is an hour away
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert worker.hints.subscribed.wait(10)
        ops = [("HSET", f"ks:{{{ws}}}:keys", "leaked-digest", "{}")]
        reply = live.run(
            _one(
                apply_call(
                    live.ctx, ws, ops, actor="t", action="key.leaked", detail={"key_id": "k1"}
                )
            )
        )
        assert int(reply[0]) > 0
        assert receiver.types(receiver.take(1, timeout=10)) == ["key.leaked"]
    finally:
        stop.set()
        worker.hints.wake.set()
        thread.join(10)


def _one(call: Any) -> Any:
    reply = yield call
    return reply


def test_a_refused_mail_is_retried_and_shown(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    mailer: SmtpMailer,
    smtp: tuple[Inbox, int],
    clock: ManualClock,
) -> None:
    ws = workspace.workspace_id
    store.run(notify.set_emails(store.ctx, ws, ["ops@acme.test"], actor="test"))
    inbox = smtp[0]
    inbox.refuse_with = "550 mailbox unavailable"
    store.create_token(ws, "ci", actor="test")
    worker = worker_for(store, mailer)
    worker.tick()
    mail = store.run(notify.settings(store.ctx, ws)).channels["mail"]
    assert mail.status == "failed" and mail.next_retry is not None
    assert mail.error == "mail not sent: the mail server refused the address (SMTP 550)"
    inbox.refuse_with = None
    clock.advance(1)  # the retry is due (the store's clock)
    worker.tick()
    assert "a token was created" in inbox.next().get("Subject", "")
    assert store.run(notify.settings(store.ctx, ws)).channels["mail"].status == "ok"


def test_a_leak_report_tells_the_workspace_what_it_did(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    mailer: SmtpMailer,
    smtp: tuple[Inbox, int],
) -> None:
    """Issue 27 end to end in the store: a verified report's action and its ``key.leaked``
    arrive signed and by mail, with where the key was found and never the key."""
    ws = workspace.workspace_id
    subscribe(store, ws, receiver, ["ops@acme.test"])
    token = store.create_token(ws, "ci", actor="admin:alice@acme.test")
    store.run(leaks.set_policy(store.ctx, ws, LeakPolicy(sdk="notify"), actor="test"))
    seen = Sighting("github", "https://github.com/acme/app/blob/abc/.env", "content")
    assert store.run(leaks.report(store.ctx, token.token, seen)) is Leak.REVOKED
    assert store.run(leaks.report(store.ctx, workspace.sdk_key, seen)) is Leak.NOTIFIED
    assert store.run(leaks.report(store.ctx, token.token, seen)) is Leak.REPEAT
    worker = worker_for(store, mailer)
    while worker.tick():
        pass
    got = receiver.take(4)
    assert receiver.types(got) == ["token.created", "token.revoked", "key.leaked", "key.leaked"]
    leaked = [d.event["data"] for d in got[2:]]
    assert [(e["key_id"], e["kind"]) for e in leaked] == [
        (token.info.key_id, "tk"),
        (store.ctx.keyring.key_id(store.ctx.keyring.digest(workspace.sdk_key)), "sk"),
    ]
    assert [e.get("action") for e in leaked] == ["revoked", "notified"]
    assert all(e.get("location") == seen.where for e in leaked)
    for secret in (token.token, workspace.sdk_key):
        assert all(secret not in body_text(d) for d in got)
    subjects = [smtp[0].next().get("Subject", "") for _ in range(4)]
    assert sum("reported leaked" in s for s in subjects) == 2
    assert receiver.deliveries.empty()  # the repeat told no one again


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        "[1, 2]",
        '{"id": "msg_x"}',
        '{"id": "msg_x\\r\\nx-evil: 1", "type": "token.created", "timestamp": "", "data": {}}',
        '{"id": "msg_x", "type": "token.created", "timestamp": "then", "data": [1]}',
    ],
)
def test_a_malformed_queued_event_is_a_dead_letter_and_the_rest_still_arrive(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    mailer: SmtpMailer,
    smtp: tuple[Inbox, int],
    stored: str,
) -> None:
    """Queue poisoning (a damaged entry, an older format, a careless operator's XADD): the
    worker neither crashes nor loops on it; it becomes a dead letter on each channel."""
    ws = workspace.workspace_id
    subscribe(store, ws, receiver, ["ops@acme.test"])
    entry = store.client.xadd(schema.notify(ws, "outbox"), {"event": stored})
    store.client.zadd(schema.notify(ws, "due"), {f"webhook {entry}": 0, f"mail {entry}": 0})
    store.client.zadd(schema.NOTIFY_PENDING, {ws: 0})
    store.create_token(ws, "ci", actor="test")
    worker = worker_for(store, mailer)
    while worker.tick():
        pass
    assert receiver.types(receiver.take(1)) == ["token.created"]
    assert "a token was created" in smtp[0].next().get("Subject", "")
    state = store.run(notify.settings(store.ctx, ws))
    assert state.pending == 0 and state.dead == 2
    assert {letter["channel"] for letter in state.dead_letters} == {"webhook", "mail"}
    assert all("malformed" in letter["error"] for letter in state.dead_letters)
    assert receiver.forged == 0 and receiver.deliveries.empty()


@pytest.mark.parametrize("path", ["/hooks/caf\u00e9", "/hooks?q=\u00fc", "/a b"])
def test_an_endpoint_http_cannot_send_to_is_refused_and_never_stops_the_worker(
    store: PolicyStore, workspace: CreatedWorkspace, receiver: Receiver, path: str
) -> None:
    """A workspace admin's URL with a character a request line cannot carry: refused when
    set; one stored anyway (an older version, a restore) fails its deliveries, and the
    worker goes on to other workspaces."""
    ws = workspace.workspace_id
    url = f"http://127.0.0.1:{receiver.port}{path}"
    with pytest.raises(EndpointRefused, match="URL"):
        store.run(notify.set_endpoint(store.ctx, ws, url, OPTIONS.endpoints, actor="t"))
    subscribe(store, ws, receiver)
    store.client.hset(schema.notify(ws), "url", url)  # stored anyway
    other = store.create_workspace("other", actor="test").workspace_id
    subscribe(store, other, receiver)
    store.create_token(ws, "ci", actor="test")
    store.create_token(other, "ci", actor="test")
    worker = worker_for(store, max_attempts=1)
    while worker.tick():
        pass
    assert [d.event["data"]["workspace_id"] for d in receiver.take(1)] == [other]
    state = store.run(notify.settings(store.ctx, ws))
    assert state.pending == 0 and state.dead == 1 and "URL" in state.dead_letters[0]["error"]


@pytest.mark.parametrize("damage", ["emails", "tries", "due", "index"])
def test_a_workspace_whose_queue_is_damaged_does_not_stop_the_others(
    store: PolicyStore,
    workspace: CreatedWorkspace,
    receiver: Receiver,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A damaged queue (a hand edit, a half-restored store): the worker logs it, leaves the
    workspace for later and serves every other one."""
    ws = workspace.workspace_id
    if damage != "index":
        subscribe(store, ws, receiver)
        store.create_token(ws, "ci", actor="test")
    if damage == "emails":
        store.client.hset(schema.notify(ws), "emails", "not json")
    elif damage == "tries":
        [member] = store.client.zrange(schema.notify(ws, "due"), 0, -1)
        store.client.hset(schema.notify(ws, "tries"), member, "many")
    elif damage == "index":  # not a workspace id at all: dropped from the index
        store.client.zadd(schema.NOTIFY_PENDING, {"ws_not-an-id": 0})
        ws = "ws_not-an-id"
    else:
        store.client.delete(schema.notify(ws, "due"))
        store.client.set(schema.notify(ws, "due"), "not a sorted set")
        store.client.zadd(schema.NOTIFY_PENDING, {ws: 0})
    other = store.create_workspace("other", actor="test").workspace_id
    subscribe(store, other, receiver)
    store.create_token(other, "ci", actor="test")
    worker = worker_for(store)
    for _ in range(3):
        worker.tick()
    assert [d.event["data"]["workspace_id"] for d in receiver.take(1)] == [other]
    assert receiver.deliveries.empty() and receiver.forged == 0
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "notify.damaged"]
    assert record.workspace_id == ws  # type: ignore[attr-defined]
    due = store.client.zscore(schema.NOTIFY_PENDING, ws)
    if damage == "index":
        assert due is None
    else:
        assert due is not None and due > store.ctx.clock()  # left for later, not every turn
