"""The tokens' activity index (``ks:{W}:token_activity``): each live token's key id scored
by its last activity (its last use, or its creation while never used), so the tokens idle
for N days are one range of it, however many the workspace holds.

Kept by create (ZADD, in the token's atomic step), revoke (ZREM, likewise) and the
gateways' last-use flushes (``ZADD XX``: a time for a member already there, never a new
member, so a revoked token and the role keys never enter). It is an index, not the truth:
whoever reads it checks each entry against the tokens hash and the last-use hash and mends
what it finds stale (a token revoked or expired, a use an older gateway recorded only in
the hash). A marker member scored ``+inf`` says the index is complete; one without it (a
deployment from before the index, a restored workspace) is built from the hashes in short
steps by :func:`ensure_activity`.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.errors import UnknownWorkspace
from policies.operations.base import Op, require_workspace
from policies.storage import schema
from policies.storage.driver import Batch, Command, Operation
from policies.storage.values import TokenInfo
from policies.times import is_time

BUILT = "~built"  # the marker member (never a key id: those are hex)
_SCAN = 1000


def created_op(ws: str, key_id: str, created: float) -> Op:
    """The APPLY step that indexes a new token (never used yet: active since creation)."""
    return ("ZADD", schema.token_activity(ws), key_id, repr(created))


def revoked_op(ws: str, key_id: str) -> Op:
    """The APPLY step that drops a revoked token."""
    return ("ZREM", schema.token_activity(ws), key_id, "")


def touch_command(ws: str, times: Mapping[str, float]) -> Command:
    """A flush's last-use times for the index: updates members already there only."""
    pairs = (x for key_id, at in times.items() for x in (at, key_id))
    return Command(("ZADD", schema.token_activity(ws), "XX", *pairs))


def activity(info: TokenInfo) -> float:
    """When a token was last active: its last use, else its creation (0: unreadable)."""
    times = [t for t in (info.created, info.last_used) if is_time(t)]
    return max(times) if times else 0.0


def decode(raw: Any, used: Any) -> TokenInfo | None:
    """A token record with its last use (None for no record, or one that cannot be read)."""
    if raw is None:
        return None
    try:
        return schema.decode_token(raw, used)[0]
    except (ValueError, KeyError, TypeError):
        return None


def mend(ws: str, stale: Mapping[str, float | None]) -> Operation[None]:
    """Correct entries found stale: a newer time (``XX``: a token revoked meanwhile stays
    out), or None to drop the entry."""
    key = schema.token_activity(ws)
    gone = [kid for kid, at in stale.items() if at is None]
    moved = [x for kid, at in stale.items() if at is not None for x in (repr(at), kid)]
    commands = [Command(("ZREM", key, *gone))] if gone else []
    if moved:
        commands.append(Command(("ZADD", key, "XX", *moved)))
    if commands:
        yield Batch(tuple(commands))


def ensure_activity(ws: str, now: float) -> Operation[None]:
    """The index complete: two O(1) reads when it is; otherwise built from the tokens and
    last-use hashes (HSCAN steps, ``ZADD NX``: an entry already there is as fresh as the
    build's, or fresher), then marked. A build cut short is resumed by the next read;
    entries a racing revoke left behind are mended by the readers."""
    key = schema.token_activity(require_workspace(ws))
    exists, marked = yield Batch(
        (Command(("EXISTS", schema.meta(ws))), Command(("ZSCORE", key, BUILT)))
    )
    if not exists:
        raise UnknownWorkspace(ws)
    if marked is not None:
        return
    cursor = "0"
    while True:
        cursor, batch = yield Command(("HSCAN", schema.tokens(ws), cursor, "COUNT", _SCAN))
        pairs = schema.pairs(batch)
        if pairs:
            used = yield Command(("HMGET", schema.last_used(ws), *(k for k, _ in pairs)))
            infos = [decode(raw, u) for (_, raw), u in zip(pairs, used, strict=True)]
            live = [i for i in infos if i is not None and i.status(now) == "active"]
            if live:
                scored = (x for i in live for x in (repr(activity(i)), i.key_id))
                yield Command(("ZADD", key, "NX", *scored))
        if schema.text(cursor) == "0":
            break
    yield Command(("ZADD", key, "+inf", BUILT))
