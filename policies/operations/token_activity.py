"""The tokens' activity index (``ks:{W}:token_activity``): each live token's key id scored
by its last activity (its last use, or its creation while never used), so the tokens idle
for N days are one range of it, however many the workspace holds.

Kept by create (ZADD, in the token's atomic step), revoke (ZREM, likewise) and the
gateways' last-use flushes (``ZADD XX``: the hour of the use for a member already there,
never a new member, so a revoked token and the role keys never enter). An entry is never
later than the token's true last activity. It is an index, not the truth:
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
from policies.storage.scripting import LuaScript
from policies.storage.values import TokenInfo
from policies.times import is_time

BUILT = "~built"  # the marker member (never a key id: those are hex)
GRAIN = 3600  # a flush writes the hour of a use (an index entry is never later than the use)
_SCAN = 1000


def created_op(ws: str, key_id: str, created: float) -> Op:
    """The APPLY step that indexes a new token (never used yet: active since creation)."""
    return ("ZADD", schema.token_activity(ws), key_id, repr(created))


def revoked_op(ws: str, key_id: str) -> Op:
    """The APPLY step that drops a revoked token."""
    return ("ZREM", schema.token_activity(ws), key_id, "")


def touch_command(ws: str, times: Mapping[str, float]) -> Command:
    """A flush's last-use times for the index: members already there only (``XX``), each at
    the start of the hour it was used in, so the flushes of a key used all hour change its
    entry once (an unchanged score is an O(1) check in Redis, a changed one a re-sort).
    Readers take the exact time from the last-use hash. The hour goes as text, made once
    per distinct time (a flush stamps all its keys alike): encoding a float per key costs
    the client more than Redis spends on the whole command."""
    hours: dict[float, str] = {}
    for at in times.values():
        if at not in hours:
            hours[at] = str(int(at - at % GRAIN))
    pairs = (x for key_id, at in times.items() for x in (hours[at], key_id))
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


# One step of a build: an HSCAN step of the tokens hash, and each live token's activity
# added if missing (NX). Records are read in Redis (a step of 1000 takes a few ms), never
# sent to the client. Replies the next cursor ("0": done).
BUILD = LuaScript(
    "token_activity_build",
    """
local step = redis.call('HSCAN', K.tokens, A.cursor, 'COUNT', A.count)
local items, now, scored = step[2], tonumber(A.now), {}
for i = 1, #items, 2 do
  local ok, record = pcall(cjson.decode, items[i + 1])
  if ok and type(record) == 'table' and type(record.created) == 'number' then
    local live = record.revoked == nil or record.revoked == cjson.null
    local expires = record.expires
    if live and (type(expires) ~= 'number' or now < expires) then
      local used = tonumber(redis.call('HGET', K.lastused, items[i]) or '')
      local at = record.created
      if used and used == used and used > at then at = used end
      scored[#scored + 1] = string.format('%.17g', at)
      scored[#scored + 1] = items[i]
    end
  end
end
if #scored > 0 then redis.call('ZADD', K.activity, 'NX', unpack(scored)) end
return step[1]
""",
    ("tokens", "lastused", "activity"),
    ("cursor", "count", "now"),
)


def ensure_activity(ws: str, now: float) -> Operation[None]:
    """The index complete: two O(1) reads when it is; otherwise built from the tokens and
    last-use hashes in steps of :data:`BUILD` (``ZADD NX``: an entry already there is as
    fresh as the build's, or fresher), then marked. A build cut short is resumed by the
    next read; entries a racing revoke left behind are mended by the readers."""
    key = schema.token_activity(require_workspace(ws))
    exists, marked = yield Batch(
        (Command(("EXISTS", schema.meta(ws))), Command(("ZSCORE", key, BUILT)))
    )
    if not exists:
        raise UnknownWorkspace(ws)
    if marked is not None:
        return
    cursor, keys = "0", (schema.tokens(ws), schema.last_used(ws), key)
    while True:
        cursor = schema.text((yield BUILD.call(keys, cursor=cursor, count=_SCAN, now=now)))
        if cursor == "0":
            break
    yield Command(("ZADD", key, "+inf", BUILT))
