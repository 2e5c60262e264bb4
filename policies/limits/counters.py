"""The shared rate-limit counters: their keys, the Lua step that syncs them, the operation.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from policies.storage import schema
from policies.storage.driver import Batch, Operation
from policies.storage.scripting import LuaScript


def counter(ws: str, owner: str, scope: str, seconds: int, bucket: int) -> str:
    return f"{schema.PREFIX}:{{{ws}}}:rl:{owner}:{scope}:{seconds}:{bucket}"


def presence(ws: str, owner: str) -> str:
    return f"{schema.PREFIX}:{{{ws}}}:rl:{owner}:procs"


def leases(ws: str, owner: str, scope: str, seconds: int) -> str:
    return f"{schema.PREFIX}:{{{ws}}}:rl:{owner}:{scope}:{seconds}:leases"


# entries: [current key, previous key, presence key, leases key (indexes into K.keys), add to
# current, add to previous, TTL ms, quota, window seconds, bucket]. A previous bucket's
# counts arrive when a process's bucket rolled over before it could sync them.
# Replies, per entry: {current total, previous total, live processes, this process's rank,
# its lease}. The lease is what this process may admit until its next sync: its even share
# of what the sliding window has left (the remainder to the lowest ranks), but never more
# than is left once every other live process's lease is set aside, so the counts plus all
# leases never pass the quota, however the syncs interleave.
SYNC = LuaScript(
    "rate_sync",
    """
local now, stale = tonumber(A.now), tonumber(A.stale)
local seen = {}
local out = {}
for i, e in ipairs(A.entries) do
  local cur_key, prev_key, leases_key = K.keys[e[1]], K.keys[e[2]], K.keys[e[4]]
  local cur, prev
  if e[5] > 0 then
    cur = redis.call('INCRBY', cur_key, e[5])
    redis.call('PEXPIRE', cur_key, e[7])
  else
    cur = tonumber(redis.call('GET', cur_key) or '0')
  end
  if e[6] > 0 then
    prev = redis.call('INCRBY', prev_key, e[6])
    if redis.call('PTTL', prev_key) < 0 then redis.call('PEXPIRE', prev_key, e[7]) end
  else
    prev = tonumber(redis.call('GET', prev_key) or '0')
  end
  local p = seen[e[3]]
  if not p then
    local key = K.keys[e[3]]
    redis.call('HSET', key, A.proc, A.now)
    redis.call('PEXPIRE', key, math.ceil(stale * 2000))
    local flat = redis.call('HGETALL', key)
    local live, names = {}, {}
    for j = 1, #flat, 2 do
      if tonumber(flat[j + 1]) >= now - stale then
        names[#names + 1] = flat[j]
        live[flat[j]] = true
      else
        redis.call('HDEL', key, flat[j])
      end
    end
    table.sort(names)
    local rank = 0
    for j, name in ipairs(names) do
      if name == A.proc then rank = j - 1 end
    end
    p = {#names, rank, live}
    seen[e[3]] = p
  end
  local others = 0
  local flat = redis.call('HGETALL', leases_key)
  for j = 1, #flat, 2 do
    if flat[j] ~= A.proc then
      if p[3][flat[j]] then others = others + tonumber(flat[j + 1])
      else redis.call('HDEL', leases_key, flat[j]) end
    end
  end
  local weight = 1 - (now - e[10] * e[9]) / e[9]
  if weight < 0 then weight = 0 end
  local unused = math.floor(e[8] - prev * weight - cur + 1e-9)
  local lease = math.floor(unused / p[1])
  if p[2] < unused % p[1] then lease = lease + 1 end
  lease = math.max(0, math.min(lease, unused - others))
  redis.call('HSET', leases_key, A.proc, lease)
  redis.call('PEXPIRE', leases_key, e[7])
  out[i] = {cur, prev, p[1], p[2], lease}
end
return out
""",
    ("*keys",),
    ("now", "proc", "stale", "entries"),
    frozenset({"entries"}),
)


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


@dataclass(frozen=True, slots=True)
class Totals:
    """What the store answered for one counter."""

    current: int
    previous: int
    processes: int
    rank: int
    lease: int


def sync(
    tallies: list[Tally], *, now: float, process: str, stale: float
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
                    (2 * t.seconds + 60) * 1000,  # a minute to spare: inspectable
                    t.quota,
                    t.seconds,
                    t.bucket,
                ]
            )
        calls.append(
            SYNC.call(tuple(keys), now=repr(now), proc=process, stale=stale, entries=entries)
        )
    replies = yield Batch(tuple(calls))  # the driver sends the text if Redis lacks it
    totals: list[Totals | None] = [None] * len(tallies)
    for indexes, reply in zip(by_ws.values(), replies, strict=True):
        for index, values in zip(indexes, reply, strict=True):
            totals[index] = Totals(*(int(v) for v in values))
    return [t for t in totals if t is not None]
