"""The Lua text of the store's atomic steps, and nothing else.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from policies.limits.counters import LEASE_STEP
from policies.storage.lua_notify import NOTIFY, NOTIFY_KEYS
from policies.storage.scripting import LuaScript

# The workspace's meta hash, its audit stream, its notification queue (lua_notify).
HEAD_KEYS = ("meta", "audit", *NOTIFY_KEYS)
HEAD_ARGS = ("ws", "channel", "maxlen", "audit", "notice")  # the audit fields: one list
_COMMIT = (
    NOTIFY
    + """
local function commit()
  local version = redis.call('HINCRBY', K.meta, 'version', 1)
  redis.call('XADD', K.audit, 'MAXLEN', '~', A.maxlen, '*', 'version', version, unpack(A.audit))
  redis.call('PUBLISH', A.channel, A.ws .. ' ' .. version)
  notify(A.notice)
  return version
end
"""
)


def write_script(
    name: str,
    keys: tuple[str, ...],
    args: tuple[str, ...],
    body: str,
    lists: frozenset[str] = frozenset(),
) -> LuaScript:
    """A write script: the common head's keys and arguments first, then its own."""
    return LuaScript(name, _COMMIT + body, HEAD_KEYS + keys, HEAD_ARGS + args, lists | {"audit"})


# A new workspace with both role keys (digest -> credential record, and the ciphertexts).
CREATE = write_script(
    "create",
    ("credentials",),
    ("name", "created", "pk_digest", "pk_record", "pk_enc", "sk_digest", "sk_record", "sk_enc"),
    """
if redis.call('EXISTS', K.meta) == 1 then return {R.EXISTS, 0} end
redis.call('HSET', K.meta, 'id', A.ws, 'name', A.name, 'created', A.created,
  'version', 0, 'pk_digest', A.pk_digest, 'pk_enc', A.pk_enc,
  'sk_digest', A.sk_digest, 'sk_enc', A.sk_enc)
redis.call('HSET', K.credentials, A.pk_digest, A.pk_record, A.sk_digest, A.sk_record)
return {R.OK, commit()}
""",
)

# A role's new key (role 'pk' or 'sk'); grace_until '' kills the old key now, else it lives
# until then. One key of the role stays in grace at most.
ROTATE = write_script(
    "rotate",
    ("credentials",),
    ("role", "digest", "record", "enc", "grace_until"),
    """
if redis.call('EXISTS', K.meta) == 0 then return {R.UNKNOWN_WORKSPACE, 0} end
local old = redis.call('HGET', K.meta, A.role .. '_digest')
local prev = redis.call('HGET', K.meta, A.role .. '_prev_digest')
if prev then
  redis.call('HDEL', K.credentials, prev)
  redis.call('HDEL', K.meta, A.role .. '_prev_digest')
end
local record = A.record
if old then
  local raw = redis.call('HGET', K.credentials, old)
  if raw then  -- the new key keeps the old one's allow-lists (policies.restrictions)
    local held = cjson.decode(raw)
    for _, field in ipairs({'scopes', 'networks'}) do
      if type(held[field]) == 'table' and #held[field] > 0 then
        local list = cjson.encode(held[field])
        record = string.sub(record, 1, -2) .. ',"' .. field .. '":' .. list .. '}'
      end
    end
  end
  if A.grace_until ~= '' and raw then
    local kept = cjson.decode(raw)
    kept['expires'] = tonumber(A.grace_until)
    redis.call('HSET', K.credentials, old, cjson.encode(kept))
    redis.call('HSET', K.meta, A.role .. '_prev_digest', old)
  else
    redis.call('HDEL', K.credentials, old)
  end
end
redis.call('HSET', K.credentials, A.digest, record)
redis.call('HSET', K.meta, A.role .. '_digest', A.digest, A.role .. '_enc', A.enc)
return {R.OK, commit()}
""",
)

# ops: [verb, index into K.targets, field, value] each (ZADD: member, score; ZREM: member).
# Guards (NEED: the field must exist, ABSENT: must not, SAME: must hold value, '' for
# absent) all run before any write. Writes that change nothing (an HSET of the value
# already there) do not count: no version, no entry.
APPLY = write_script(
    "apply",
    ("*targets",),
    ("ops",),
    """
if redis.call('EXISTS', K.meta) == 0 then return {R.UNKNOWN_WORKSPACE, 0} end
for _, op in ipairs(A.ops) do
  local verb, key = op[1], K.targets[op[2]]
  if verb == 'NEED' and redis.call('HEXISTS', key, op[3]) == 0 then
    return {R.FIELD_MISSING, 0}
  end
  if verb == 'ABSENT' and redis.call('HEXISTS', key, op[3]) == 1 then return {R.EXISTS, 0} end
  if verb == 'SAME' and (redis.call('HGET', key, op[3]) or '') ~= op[4] then
    return {R.CONFLICT, 0}
  end
end
local changed = 0
for _, op in ipairs(A.ops) do
  local verb, key, member, value = op[1], K.targets[op[2]], op[3], op[4]
  if verb == 'HSET' then
    if redis.call('HGET', key, member) ~= value then
      redis.call('HSET', key, member, value)
      changed = changed + 1
    end
  elseif verb == 'HDEL' then
    changed = changed + redis.call('HDEL', key, member)
  elseif verb == 'SADD' then
    changed = changed + redis.call('SADD', key, member)
  elseif verb == 'SREM' then
    changed = changed + redis.call('SREM', key, member)
  elseif verb == 'ZADD' then
    changed = changed + redis.call('ZADD', key, value, member)
  elseif verb == 'ZREM' then
    changed = changed + redis.call('ZREM', key, member)
  end
end
if changed == 0 then
  return {R.UNCHANGED, tonumber(redis.call('HGET', K.meta, 'version'))}
end
return {changed, commit()}
""",
    frozenset({"ops"}),
)

# The gateway's whole read. Unknown key or workspace: nil, with no further work (a flood of
# junk stays cheap). A.owner: whose rate limits the key obeys (policies.limits.rate_limits.owner).
# The gateway's one round trip for a key it has not cached. Given a process (``proc``), it is
# also that process's first sync of the owner's counters: for each window of the owner's
# limits (stored canonically: 100/min, 1000/10s, 5/2h, 100000/day) it reads the totals,
# marks the process live and grants it a lease (LEASE_STEP, first sight only), so a
# process new to a key decides with the shared view from its first request. Reply:
# {record, version, origins, rules, limits, {{scope, seconds, bucket, LEASE_STEP's}...}}.
LOOKUP = LuaScript(
    "lookup",
    LEASE_STEP
    + """
local record = redis.call('HGET', K.credentials, A.digest)
if not record then return false end
local meta = redis.call('HMGET', K.meta, 'version', 'origins')
local limits = redis.call('HGET', K.limits, A.owner) or ''
local leases = {}
if A.proc ~= '' and limits ~= '' then
  local units = {s = 1, min = 60, h = 3600, day = 86400}
  local now, stale = tonumber(A.now), tonumber(A.stale)
  local seen = {}
  local ok, decoded = pcall(cjson.decode, limits)
  if ok and type(decoded) == 'table' then
    for scope, texts in pairs(decoded) do
      for _, text in ipairs(type(texts) == 'table' and texts or {}) do
        local quota, count, unit = string.match(tostring(text), '^(%d+)/(%d*)(%a+)$')
        if quota and units[unit] then
          local seconds = (tonumber(count) or 1) * units[unit]
          local bucket = math.floor(now / seconds)
          local base = A.counters .. ':' .. scope .. ':' .. seconds
          local r = lease_step(seen, A.proc, now, stale, base .. ':' .. bucket,
                               base .. ':' .. (bucket - 1), A.counters .. ':procs',
                               base .. ':leases', 0, 0, (2 * seconds + 60) * 1000,
                               tonumber(quota), seconds, bucket, 'first', 0)
          leases[#leases + 1] = {scope, seconds, bucket, r[1], r[2], r[3], r[4], r[5]}
        end
      end
    end
  end
end
return {record, meta[1] or '0', meta[2] or '', redis.call('SMEMBERS', K.rules), limits, leases}
""",
    ("meta", "credentials", "rules", "limits"),
    ("digest", "owner", "proc", "now", "stale", "counters"),
)
