"""The notification queue's steps: what a worker claims and finishes, and the deployment's
index of workspaces with deliveries due. Notices given at most once: :mod:`.notify_marks`.

Queue layout and scripts: :mod:`policies.storage.lua_notify`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from policies.keys.keyformat import is_workspace_id
from policies.notify import events
from policies.operations.base import Context, notify_keys, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.lua_notify import CLAIM, FINISH

SWEEP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    member: str  # "<channel> <outbox entry id>"
    event: str  # the stored event's JSON
    tries: int

    @property
    def channel(self) -> str:
        return self.member.partition(" ")[0]


@dataclass(frozen=True, slots=True)
class Claimed:
    url: str
    secret_enc: str
    emails: tuple[str, ...]
    deliveries: list[Delivery]


def claim(ctx: Context, ws: str, lease: float, count: int) -> Operation[Claimed]:
    """Up to ``count`` deliveries due now, leased until ``lease``."""
    reply = yield CLAIM.call(
        notify_keys(require_workspace(ws)), now=ctx.clock(), lease=lease, count=count
    )
    url, enc, emails, rows = reply
    listed = json.loads(schema.text(emails)) if emails else []
    return Claimed(
        schema.text(url),
        schema.text(enc),
        tuple(listed),
        [Delivery(schema.text(m), schema.text(e), int(schema.text(t))) for m, e, t in rows],
    )


def finish(
    ctx: Context,
    ws: str,
    delivery: Delivery,
    lease: float,
    *,
    outcome: str,
    status: str,
    error: str = "",
    next_at: float | None = None,
) -> Operation[bool]:
    """End (``ok``, ``dead``) or reschedule (``retry`` at ``next_at``) a claimed delivery;
    False when its lease was lost to another worker."""
    now = ctx.clock()
    record = ""
    if outcome == "dead":
        try:
            parsed = events.parse(delivery.event)
        except events.MalformedEvent:
            parsed = {}  # a damaged event's letter names none
        record = schema.dump(
            {
                "id": parsed.get("id", ""),
                "type": parsed.get("type", ""),
                "channel": delivery.channel,
                "tries": delivery.tries + 1,
                "error": error[:200],
                "at": now,
            }
        )
    keys = (*notify_keys(ws), schema.notify(ws, "dead"))
    reply = yield FINISH.call(
        keys,
        member=delivery.member,
        lease=lease,
        outcome=outcome,
        next="" if next_at is None else repr(next_at),
        status=status,
        error=error[:200],
        now=repr(now),
        record=record,
    )
    return bool(reply)


def due_workspaces(ctx: Context, count: int) -> Operation[list[str]]:
    found = yield Command(
        ("ZRANGEBYSCORE", schema.NOTIFY_PENDING, "-inf", ctx.clock(), "LIMIT", 0, count)
    )
    return [schema.text(ws) for ws in found]


def set_aside(ctx: Context, ws: str, until: float) -> Operation[None]:
    """Index ``ws`` as due only at ``until`` (its queue could not be processed); an index
    entry that is no workspace id is dropped."""
    if not is_workspace_id(ws):
        yield Command(("ZREM", schema.NOTIFY_PENDING, ws))
        return
    yield Command(("ZADD", schema.NOTIFY_PENDING, until, ws))


def reschedule(ctx: Context, ws: str) -> Operation[float | None]:
    """Index ``ws`` by its next due delivery (or drop it), then read again: a notice queued
    meanwhile (whose own index write this one may have overwritten) is indexed again."""
    due = schema.notify(ws, "due")
    first = yield from _first(due)
    for _ in range(5):
        if first is None:
            yield Command(("ZREM", schema.NOTIFY_PENDING, ws))
        else:
            yield Command(("ZADD", schema.NOTIFY_PENDING, first, ws))
        again = yield from _first(due)
        if again == first:
            break
        first = again
    return first


def _first(due: str) -> Operation[float | None]:
    rows = yield Command(("ZRANGE", due, 0, 0, "WITHSCORES"))
    if not rows:
        return None
    row = rows[0]
    return float(row[1]) if isinstance(row, list | tuple) else float(schema.text(rows[1]))


def sweep(ctx: Context) -> Operation[int]:
    """Index every workspace with deliveries queued (repairs an index write lost in a
    crash between a workspace's step and it). How many are indexed."""
    ids = sorted(schema.text(m) for m in (yield Command(("SMEMBERS", schema.WORKSPACES))))
    indexed = 0
    for start in range(0, len(ids), SWEEP_CHUNK):
        chunk = ids[start : start + SWEEP_CHUNK]
        # EXISTS, not a read of the sorted set: a damaged one (another type) is indexed like
        # any other, and set aside by the worker, rather than failing the whole sweep.
        rows = yield Batch(tuple(Command(("EXISTS", schema.notify(ws, "due"))) for ws in chunk))
        found = [ws for ws, row in zip(chunk, rows, strict=True) if int(row)]
        if found:
            yield Batch(
                tuple(Command(("ZADD", schema.NOTIFY_PENDING, "NX", 0, ws)) for ws in found)
            )
        indexed += len(found)
    return indexed
