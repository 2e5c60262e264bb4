"""The audit log: who did what to which workspace, never with key material."""

from __future__ import annotations

import json
from typing import Any

from policies.notify.events import NOTIFIABLE
from policies.operations.base import Context, audit_call, require_workspace, wake
from policies.storage import schema
from policies.storage.driver import Command, Operation
from policies.storage.values import AuditEntry
from policies.times import stored_time

MAX_TAIL = 1000


def append(
    ctx: Context, ws: str, actor: str, action: str, detail: dict[str, Any] | None = None
) -> Operation[None]:
    """Record an event that changes nothing (a failed one-time password, a denied reveal)."""
    yield audit_call(ctx, require_workspace(ws), actor, action, detail or {})
    if action in NOTIFIABLE:  # e.g. key.leaked: queued with the entry
        yield wake(ws)


def tail(ctx: Context, ws: str, count: int = 20) -> Operation[list[AuditEntry]]:
    """The newest ``count`` entries, newest first."""
    return (yield from _tail(schema.audit(require_workspace(ws)), ws, count))


def deployment_tail(ctx: Context, count: int = 20) -> Operation[list[AuditEntry]]:
    """The newest entries of the deployment's own stream (catalog loads), newest first."""
    return (yield from _tail(schema.DEPLOYMENT_AUDIT, "-", count))


def _tail(stream: str, ws: str, count: int) -> Operation[list[AuditEntry]]:
    count = max(1, min(int(count), MAX_TAIL))
    rows = yield Command(("XREVRANGE", stream, "+", "-", "COUNT", count))
    return [decode_entry(entry_id, raw, ws) for entry_id, raw in rows]


def decode_entry(entry_id: Any, raw: Any, ws: str) -> AuditEntry:
    """One stream entry of an XRANGE/XREVRANGE reply."""
    if isinstance(raw, dict):  # redis-py's XREVRANGE callback already paired them
        fields = {schema.text(k): schema.text(v) for k, v in raw.items()}
    else:
        values = [schema.text(v) for v in raw]
        fields = dict(zip(values[::2], values[1::2], strict=True))
    return AuditEntry(
        entry_id=schema.text(entry_id),
        time=stored_time(fields.get("ts", "0")),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        workspace_id=fields.get("workspace", ws),
        detail=json.loads(fields.get("detail", "{}")),
    )
