"""The Lua text of the store's atomic steps, and nothing else.

Every write script takes the same head so that one tail (``commit``) bumps the workspace's
policy version, appends the audit entry and publishes the invalidation event inside the
same atomic step as the change itself:

    KEYS[1] = workspace meta hash, KEYS[2] = audit stream, KEYS[3..] = script's own
    ARGV[1] = workspace id, ARGV[2] = event channel, ARGV[3] = audit MAXLEN,
    ARGV[4] = n, ARGV[5 .. 4+n] = audit fields, ARGV[5+n ..] = script's own

Replies are ``{status, version}``: status -1 unknown workspace, -2 a required field is
missing, -3 a field that must be absent exists, 0 nothing changed, >0 changes committed.
The event text ``"<workspace> <version>"`` is parsed by :mod:`policies.events`.
All keys of one script share the workspace's hash tag, so this holds on Redis Cluster too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())  # noqa: S324 - Redis names scripts by SHA-1


_HEAD = """
local s = 5 + tonumber(ARGV[4])
local function commit()
  local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
  local fields = {}
  for i = 5, s - 1 do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'version', version, unpack(fields))
  redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' ' .. version)
  return version
end
"""

# KEYS[3] = credentials hash. Own ARGV: name, created, then for pk and sk: digest, record, enc.
CREATE = LuaScript(
    "create",
    _HEAD
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-3, 0} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[s], 'created', ARGV[s + 1],
  'version', 0, 'pk_digest', ARGV[s + 2], 'pk_enc', ARGV[s + 4],
  'sk_digest', ARGV[s + 5], 'sk_enc', ARGV[s + 7])
redis.call('HSET', KEYS[3], ARGV[s + 2], ARGV[s + 3], ARGV[s + 5], ARGV[s + 6])
return {1, commit()}
""",
)

# KEYS[3] = credentials hash. Own ARGV: role ('pk' or 'sk'), new digest, new record, new enc,
# grace-until ('' = the old key dies now). One key of the role stays in grace at most.
ROTATE = LuaScript(
    "rotate",
    _HEAD
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local role = ARGV[s]
local old = redis.call('HGET', KEYS[1], role .. '_digest')
local prev = redis.call('HGET', KEYS[1], role .. '_prev_digest')
if prev then
  redis.call('HDEL', KEYS[3], prev)
  redis.call('HDEL', KEYS[1], role .. '_prev_digest')
end
if old then
  local raw = redis.call('HGET', KEYS[3], old)
  if ARGV[s + 4] ~= '' and raw then
    local record = cjson.decode(raw)
    record['expires'] = tonumber(ARGV[s + 4])
    redis.call('HSET', KEYS[3], old, cjson.encode(record))
    redis.call('HSET', KEYS[1], role .. '_prev_digest', old)
  else
    redis.call('HDEL', KEYS[3], old)
  end
end
redis.call('HSET', KEYS[3], ARGV[s + 1], ARGV[s + 2])
redis.call('HSET', KEYS[1], role .. '_digest', ARGV[s + 1], role .. '_enc', ARGV[s + 3])
return {1, commit()}
""",
)

# KEYS[3..] = targets. Own ARGV: n ops, then 4 per op: verb, index into KEYS, field, value.
# Guards (NEED: field must exist, ABSENT: must not) all run before any write. Writes that
# change nothing (an HSET of the value already there) do not count: no version, no entry.
APPLY = LuaScript(
    "apply",
    _HEAD
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local n = tonumber(ARGV[s])
for i = 0, n - 1 do
  local o = s + 1 + i * 4
  local verb, key = ARGV[o], KEYS[tonumber(ARGV[o + 1])]
  if verb == 'NEED' and redis.call('HEXISTS', key, ARGV[o + 2]) == 0 then return {-2, 0} end
  if verb == 'ABSENT' and redis.call('HEXISTS', key, ARGV[o + 2]) == 1 then return {-3, 0} end
end
local changed = 0
for i = 0, n - 1 do
  local o = s + 1 + i * 4
  local verb, key = ARGV[o], KEYS[tonumber(ARGV[o + 1])]
  if verb == 'HSET' then
    if redis.call('HGET', key, ARGV[o + 2]) ~= ARGV[o + 3] then
      redis.call('HSET', key, ARGV[o + 2], ARGV[o + 3])
      changed = changed + 1
    end
  elseif verb == 'HDEL' then
    changed = changed + redis.call('HDEL', key, ARGV[o + 2])
  elseif verb == 'SADD' then
    changed = changed + redis.call('SADD', key, ARGV[o + 2])
  elseif verb == 'SREM' then
    changed = changed + redis.call('SREM', key, ARGV[o + 2])
  end
end
if changed == 0 then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'version'))}
end
return {changed, commit()}
""",
)

# The gateway's whole read: KEYS = meta, credentials, rules; ARGV[1] = digest.
# Unknown key or workspace: nil, with no further work (a flood of junk stays cheap).
LOOKUP = LuaScript(
    "lookup",
    """
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then return false end
local meta = redis.call('HMGET', KEYS[1], 'version', 'origins')
return {record, meta[1] or '0', meta[2] or '', redis.call('SMEMBERS', KEYS[3])}
""",
)

# One-time-password challenges (policies.operations.otp). They are not policy changes: no
# version bump, no event. Times are the store's clock (passed in), so an injected clock
# decides expiry, cooldown and the hourly cap; Redis TTLs only sweep leftovers away.

# KEYS = meta, challenge hash, sends zset (per admin), last-send hash (per admin).
# ARGV = now, digest, expires, tries, cooldown, cap, window cutoff, ttl ms, send id,
#        action binding, window ms.
# Replies {1, 0} stored; {-1, 0} unknown workspace; {-2, wait} cooldown; {-3, wait} hourly cap.
OTP_ISSUE = LuaScript(
    "otp_issue",
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local now = tonumber(ARGV[1])
local last = redis.call('HGET', KEYS[4], ARGV[10])
if last then
  local wait = tonumber(last) + tonumber(ARGV[5]) - now
  if wait > 0 then return {-2, math.ceil(wait)} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[7])
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {-3, math.ceil(tonumber(oldest[2]) - tonumber(ARGV[7]))}
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'digest', ARGV[2], 'expires', ARGV[3], 'tries', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[9])
redis.call('PEXPIRE', KEYS[3], ARGV[11])
redis.call('HSET', KEYS[4], ARGV[10], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[11])
return {1, 0}
""",
)

# KEYS = challenge hash, last-send hash. ARGV = presented digest, now, action binding.
# Replies {1, 0} accepted (and consumed); {0, left} wrong; {-1, 0} no challenge;
# {-2, 0} expired; {-3, 0} wrong on the last try: the challenge is void.
# Both sides of the comparison are HMAC digests, which a guesser cannot steer byte by byte,
# and Lua interns strings, so == compares two pointers: no timing signal either way.
OTP_VERIFY = LuaScript(
    "otp_verify",
    """
local c = redis.call('HMGET', KEYS[1], 'digest', 'expires', 'tries')
if not c[1] then return {-1, 0} end
if tonumber(ARGV[2]) >= tonumber(c[2]) then
  redis.call('DEL', KEYS[1])
  return {-2, 0}
end
if c[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[3])
  return {1, 0}
end
local left = redis.call('HINCRBY', KEYS[1], 'tries', -1)
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return {-3, 0}
end
return {0, left}
""",
)

# Take back a challenge whose mail could not be sent, so it neither lingers nor counts.
# KEYS = challenge hash, sends zset, last-send hash. ARGV = digest, send id, action binding,
# the send's time. Only what this send wrote is removed (a newer send is left alone).
OTP_CANCEL = LuaScript(
    "otp_cancel",
    """
if redis.call('HGET', KEYS[1], 'digest') == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[3], ARGV[3]) == ARGV[4] then redis.call('HDEL', KEYS[3], ARGV[3]) end
return 1
""",
)

# The hourly cap per admin across all their workspaces (each workspace also counts its own
# in OTP_ISSUE): its own key and slot, so it is a step of its own, taken before OTP_ISSUE.
# KEYS = the admin's sends zset. ARGV = now, window cutoff, cap, send id, window ms.
# Replies {1, 0} counted; {-3, wait} the cap is reached.
OTP_ADMIN_SEND = LuaScript(
    "otp_admin_send",
    """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {-3, math.ceil(tonumber(oldest[2]) - tonumber(ARGV[2]))}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0}
""",
)
