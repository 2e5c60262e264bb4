"""The shared rate-limit counters: their keys, the Lua step that syncs them, the operation.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from policies.storage import schema
from policies.storage.driver import Batch, Operation
from policies.storage.scripting import LuaScript


def owner_prefix(ws: str, owner: str) -> str:
    """What every key of an owner's counters starts with (the Lua steps build on it)."""
    return f"{schema.PREFIX}:{{{ws}}}:rl:{owner}"


def counter(ws: str, owner: str, scope: str, seconds: int, bucket: int) -> str:
    return f"{owner_prefix(ws, owner)}:{scope}:{seconds}:{bucket}"


def presence(ws: str, owner: str) -> str:
    return f"{owner_prefix(ws, owner)}:procs"


def leases(ws: str, owner: str, scope: str, seconds: int) -> str:
    return f"{owner_prefix(ws, owner)}:{scope}:{seconds}:leases"


# One counter's step for process ``proc``: add its counts to the current and previous bucket
# (or read them), mark it live in the owner's presence hash (once per owner and script run:
# ``seen``), and grant its lease. Returns {current total, previous total, live processes,
# this process's rank, its lease}. The lease is what this process may admit until its next
# sync: its even share of what the sliding window has left (the remainder to the lowest
# ranks), but never more than is left once every other lease is set aside, so the counts
# plus all leases never pass the quota, however the syncs interleave. A lease is held as
# "lease:bucket" and set aside while its process is live or its bucket lasts: a process
# late to sync (or killed) may have admitted under it counts that Redis has not seen yet.
# ``mode``: "" a sync; "first" the gateway's lookup (:data:`policies.storage.lua.LOOKUP`):
# grant only a process that holds no lease of this counter yet (-1 otherwise: it keeps the
# one it has); "release" a counter the process no longer uses: its lease given back (0);
# "leave" a process's last sync as it stops: its leases and its presence given back.
# ``held``: what the process may still admit under its current lease, which it may use
# while this step's answer travels (it counts that against the new lease too): its record
# never goes below that until its next sync, so what it admits in flight stays set aside
# (counts + records <= quota), while the lease it gets is its share of what is left.
LEASE_STEP = """
local function lease_step(seen, proc, now, stale, cur_key, prev_key, presence_key, leases_key,
                          add, add_prev, ttl, quota, seconds, bucket, mode, held)
  local cur, prev
  if add > 0 then
    cur = redis.call('INCRBY', cur_key, add)
    redis.call('PEXPIRE', cur_key, ttl)
  else
    cur = tonumber(redis.call('GET', cur_key) or '0')
  end
  if add_prev > 0 then
    prev = redis.call('INCRBY', prev_key, add_prev)
    if redis.call('PTTL', prev_key) < 0 then redis.call('PEXPIRE', prev_key, ttl) end
  else
    prev = tonumber(redis.call('GET', prev_key) or '0')
  end
  local p = seen[presence_key]
  if not p then
    if mode == 'leave' then
      redis.call('HDEL', presence_key, proc)
    elseif mode ~= 'release' then  -- (a sync sends an owner's releases after the rest)
      redis.call('HSET', presence_key, proc, now)
      redis.call('PEXPIRE', presence_key, math.ceil(stale * 2000))
    end
    local flat = redis.call('HGETALL', presence_key)
    local live, names = {}, {}
    for j = 1, #flat, 2 do
      if tonumber(flat[j + 1]) >= now - stale then
        names[#names + 1] = flat[j]
        live[flat[j]] = true
      else
        redis.call('HDEL', presence_key, flat[j])
      end
    end
    table.sort(names)
    local rank = 0
    for j, name in ipairs(names) do
      if name == proc then rank = j - 1 end
    end
    p = {#names, rank, live}
    seen[presence_key] = p
  end
  if mode == 'leave' or mode == 'release' then
    redis.call('HDEL', leases_key, proc)
    return {cur, prev, p[1], p[2], 0}
  end
  if mode == 'first' and redis.call('HEXISTS', leases_key, proc) == 1 then
    return {cur, prev, p[1], p[2], -1}
  end
  local others = 0
  local flat = redis.call('HGETALL', leases_key)
  for j = 1, #flat, 2 do
    if flat[j] ~= proc then
      local held, granted = string.match(flat[j + 1], '^(%d+):(%d+)$')
      if held and (p[3][flat[j]] or tonumber(granted) == bucket) then
        others = others + tonumber(held)
      else
        redis.call('HDEL', leases_key, flat[j])
      end
    end
  end
  local weight = 1 - (now - bucket * seconds) / seconds
  if weight < 0 then weight = 0 end
  local unused = math.floor(quota - prev * weight - cur + 1e-9)
  local lease = math.floor(unused / p[1])
  if p[2] < unused % p[1] then lease = lease + 1 end
  lease = math.max(0, math.min(lease, unused - others))
  redis.call('HSET', leases_key, proc, string.format('%d:%d', math.max(lease, held), bucket))
  redis.call('PEXPIRE', leases_key, ttl)
  return {cur, prev, p[1], p[2], lease}
end
"""

# entries: [current key, previous key, presence key, leases key (indexes into K.keys), add to
# current, add to previous, TTL ms, quota, window seconds, bucket, mode, held]. A previous
# bucket's counts arrive when a process's bucket rolled over before it could sync them.
# Replies, per entry: LEASE_STEP's.
SYNC = LuaScript(
    "rate_sync",
    LEASE_STEP
    + """
local now, stale = tonumber(A.now), tonumber(A.stale)
local seen = {}
local out = {}
for i, e in ipairs(A.entries) do
  out[i] = lease_step(seen, A.proc, now, stale, K.keys[e[1]], K.keys[e[2]], K.keys[e[3]],
                      K.keys[e[4]], e[5], e[6], e[7], e[8], e[9], e[10], e[11], e[12])
end
return out
""",
    ("*keys",),
    ("now", "proc", "stale", "entries"),
    frozenset({"entries"}),
)


def ttl_ms(seconds: int) -> int:
    """A bucket's counter and a window's leases live two windows and a minute (inspectable)."""
    return (2 * seconds + 60) * 1000


@dataclass(frozen=True, slots=True)
class Tally:
    """One counter's news for the store: what to add to its current and previous bucket."""

    ws: str
    owner: str
    scope: str
    seconds: int
    bucket: int
    quota: int
    add: int = 0
    add_previous: int = 0
    mode: str = ""  # "release": the process no longer uses it (LEASE_STEP)
    held: int = 0  # what it may still admit under its lease meanwhile (LEASE_STEP)


@dataclass(frozen=True, slots=True)
class Totals:
    """What the store answered for one counter."""

    current: int
    previous: int
    processes: int
    rank: int
    lease: int


def sync(
    tallies: list[Tally], *, now: float, process: str, stale: float, leaving: bool = False
) -> Operation[list[Totals]]:
    """Add every tally and read the totals back: one pipeline, one SYNC per workspace."""
    by_ws: defaultdict[str, list[int]] = defaultdict(list)
    for index, tally in enumerate(tallies):
        by_ws[tally.ws].append(index)
    calls = []
    for ws, indexes in by_ws.items():
        keys: dict[str, int] = {}

        def at(key: str) -> int:
            return keys.setdefault(key, len(keys) + 1)  # noqa: B023 - used at once

        entries = []
        for index in indexes:
            t = tallies[index]
            entries.append(
                [
                    at(counter(ws, t.owner, t.scope, t.seconds, t.bucket)),
                    at(counter(ws, t.owner, t.scope, t.seconds, t.bucket - 1)),
                    at(presence(ws, t.owner)),
                    at(leases(ws, t.owner, t.scope, t.seconds)),
                    t.add,
                    t.add_previous,
                    ttl_ms(t.seconds),
                    t.quota,
                    t.seconds,
                    t.bucket,
                    "leave" if leaving else t.mode,
                    t.held,
                ]
            )
        calls.append(
            SYNC.call(
                tuple(keys),
                now=repr(now),
                proc=process,
                stale=stale,
                entries=entries,
            )
        )
    replies = yield Batch(tuple(calls))  # the driver sends the text if Redis lacks it
    totals: list[Totals | None] = [None] * len(tallies)
    for indexes, reply in zip(by_ws.values(), replies, strict=True):
        for index, values in zip(indexes, reply, strict=True):
            totals[index] = Totals(*(int(v) for v in values))
    return [t for t in totals if t is not None]


FirstLeases = dict[tuple[str, int], tuple[int, Totals]]  # (scope, seconds) -> bucket, totals


def first_leases(reply: object) -> FirstLeases:
    """The lookup's lease step (:data:`policies.storage.lua.LOOKUP`), per window of the
    owner's limits: its bucket and totals; a lease of -1: the process holds one already."""
    found: FirstLeases = {}
    for item in reply if isinstance(reply, list) else ():
        scope = item[0].decode() if isinstance(item[0], bytes) else str(item[0])
        seconds, bucket, *totals = (int(v) for v in item[1:])
        found[scope, seconds] = (bucket, Totals(*totals))
    return found
