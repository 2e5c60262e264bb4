"""What every operation shares: its context, write-call building, reply checking."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.errors import KeystileError, NotFound, UnknownWorkspace
from policies.keys.crypto import Keyring
from policies.keys.keyformat import is_workspace_id
from policies.notify.events import notice
from policies.storage import schema
from policies.storage.audit_fields import audit_fields
from policies.storage.driver import Command
from policies.storage.lua import APPLY
from policies.storage.lua_notify import NOTE
from policies.storage.scripting import LuaScript, Reply, Script

MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Context:
    keyring: Keyring
    clock: Callable[[], float] = field(default=time.time)


def require_workspace(ws: str) -> str:
    """Refuse anything that is not a workspace id before it reaches a Redis key name."""
    if not isinstance(ws, str) or not is_workspace_id(ws):
        raise UnknownWorkspace(ws)
    return ws


def check_label(value: str, what: str) -> str:
    """A human label (workspace or token name): trimmed, 1-100 printable characters."""
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > MAX_NAME or not value.isprintable():
        raise KeystileError(f"{what} must be 1-{MAX_NAME} printable characters")
    return value


def write_call(
    ctx: Context,
    ws: str,
    script: LuaScript,
    own_keys: Sequence[str],
    *,
    actor: str,
    action: str,
    detail: dict[str, Any],
    **own_args: Any,
) -> Script:
    """A write script call with the common head (see :mod:`policies.storage.lua`): its
    audit entry, and the entry's notice (:mod:`policies.notify.events`)."""
    fields = audit_fields(actor, action, ws, ctx.clock(), detail)
    return script.call(
        (schema.meta(ws), schema.audit(ws), *notify_keys(ws), *own_keys),
        ws=ws,
        channel=schema.EVENTS_CHANNEL,
        maxlen=schema.AUDIT_MAXLEN,
        audit=fields,
        notice=notice(fields),
        **own_args,
    )


def notify_keys(ws: str) -> tuple[str, str, str, str]:
    """The workspace's notification queue, as :data:`policies.storage.lua_notify.NOTIFY`
    takes it."""
    return (schema.notify(ws), schema.notify(ws, "outbox"), *due_keys(ws))


def due_keys(ws: str) -> tuple[str, str]:
    return schema.notify(ws, "due"), schema.notify(ws, "tries")


Op = tuple[str, str, str, str]  # verb, Redis key, field or member, value


def apply_call(
    ctx: Context, ws: str, ops: Sequence[Op], *, actor: str, action: str, detail: dict[str, Any]
) -> Script:
    """An APPLY call: guards, then HSET/HDEL/SADD/SREM/ZADD/ZREM, committed as one step."""
    keys: list[str] = []
    encoded: list[tuple[str, int, str, str]] = []
    for verb, key, member, value in ops:
        if key not in keys:
            keys.append(key)
        encoded.append((verb, keys.index(key) + 1, member, value))  # Lua's K.targets[i]
    return write_call(ctx, ws, APPLY, keys, actor=actor, action=action, detail=detail, ops=encoded)


def checked(reply: Any, ws: str, *, missing: str = "not found") -> int:
    """The status of a write reply; unknown workspace or failed guard become errors."""
    status = int(reply[0])
    if status == Reply.UNKNOWN_WORKSPACE:
        raise UnknownWorkspace(ws)
    if status == Reply.FIELD_MISSING:
        raise NotFound(missing)
    return status


def audit_call(
    ctx: Context, ws: str, actor: str, action: str, detail: dict[str, Any]
) -> Command | Script:
    """An audit entry that is not part of a write (reveals, failed one-time passwords);
    with its notice when the action notifies (one step: :data:`lua_notify.NOTE`)."""
    fields = audit_fields(actor, action, ws, ctx.clock(), detail)
    event = notice(fields)
    if event:
        keys = (schema.audit(ws), *notify_keys(ws))
        return NOTE.call(keys, maxlen=schema.AUDIT_MAXLEN, audit=fields, notice=event)
    return Command(("XADD", schema.audit(ws), "MAXLEN", "~", schema.AUDIT_MAXLEN, "*", *fields))


def wake(ws: str) -> Command:
    """After a step that may have queued a notice: the worker's index names the workspace
    (another slot, so a call of its own; the worker's sweep repairs a crash in between)."""
    return Command(("ZADD", schema.NOTIFY_PENDING, 0, ws))
