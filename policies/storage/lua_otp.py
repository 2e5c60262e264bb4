"""The Lua text of the one-time-password challenges (:mod:`policies.operations.otp`).

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

# One-time-password challenges (policies.operations.otp). They are not policy changes: no
# version bump, no event. Times are the store's clock (passed in), so an injected clock
# decides expiry, cooldown and the hourly cap; Redis TTLs only sweep leftovers away.

# Replies {OK, 0} stored; {UNKNOWN_WORKSPACE, 0}; {COOLDOWN, wait}; {HOURLY_CAP, wait}.
OTP_ISSUE = LuaScript(
    "otp_issue",
    """
if redis.call('EXISTS', K.meta) == 0 then return {R.UNKNOWN_WORKSPACE, 0} end
local now = tonumber(A.now)
local last = redis.call('HGET', K.last_sends, A.binding)
if last then
  local wait = tonumber(last) + tonumber(A.cooldown) - now
  if wait > 0 then return {R.COOLDOWN, math.ceil(wait)} end
end
redis.call('ZREMRANGEBYSCORE', K.sends, '-inf', A.cutoff)
if redis.call('ZCARD', K.sends) >= tonumber(A.cap) then
  local oldest = redis.call('ZRANGE', K.sends, 0, 0, 'WITHSCORES')
  return {R.HOURLY_CAP, math.ceil(tonumber(oldest[2]) - tonumber(A.cutoff))}
end
redis.call('DEL', K.challenge)
redis.call('HSET', K.challenge, 'digest', A.digest, 'expires', A.expires, 'tries', A.tries)
redis.call('PEXPIRE', K.challenge, A.ttl_ms)
redis.call('ZADD', K.sends, A.now, A.send_id)
redis.call('PEXPIRE', K.sends, A.window_ms)
redis.call('HSET', K.last_sends, A.binding, A.now)
redis.call('PEXPIRE', K.last_sends, A.window_ms)
return {R.OK, 0}
""",
    ("meta", "challenge", "sends", "last_sends"),
    (
        "now",
        "digest",
        "expires",
        "tries",
        "cooldown",
        "cap",
        "cutoff",
        "ttl_ms",
        "send_id",
        "binding",
        "window_ms",
    ),
)

# Replies {OK, 0} accepted (and consumed); {WRONG, left}; {NO_CHALLENGE, 0}; {EXPIRED, 0};
# {VOID, 0}: wrong on the last try, the challenge is gone. Both sides of the comparison are
# HMAC digests, which a guesser cannot steer byte by byte, and Lua interns strings, so ==
# compares two pointers: no timing signal either way.
OTP_VERIFY = LuaScript(
    "otp_verify",
    """
local c = redis.call('HMGET', K.challenge, 'digest', 'expires', 'tries')
if not c[1] then return {R.NO_CHALLENGE, 0} end
if tonumber(A.now) >= tonumber(c[2]) then
  redis.call('DEL', K.challenge)
  return {R.EXPIRED, 0}
end
if c[1] == A.digest then
  redis.call('DEL', K.challenge)
  redis.call('HDEL', K.last_sends, A.binding)
  return {R.OK, 0}
end
local left = redis.call('HINCRBY', K.challenge, 'tries', -1)
if left <= 0 then
  redis.call('DEL', K.challenge)
  return {R.VOID, 0}
end
return {R.WRONG, left}
""",
    ("challenge", "last_sends"),
    ("digest", "now", "binding"),
)

# Take back a challenge whose mail could not be sent, so it neither lingers nor counts. Only
# what this send wrote is removed (a newer send is left alone).
OTP_CANCEL = LuaScript(
    "otp_cancel",
    """
if redis.call('HGET', K.challenge, 'digest') == A.digest then redis.call('DEL', K.challenge) end
redis.call('ZREM', K.sends, A.send_id)
if redis.call('HGET', K.last_sends, A.binding) == A.sent_at then
  redis.call('HDEL', K.last_sends, A.binding)
end
return R.OK
""",
    ("challenge", "sends", "last_sends"),
    ("digest", "send_id", "binding", "sent_at"),
)

# The hourly cap per admin across all their workspaces (each workspace also counts its own
# in OTP_ISSUE): its own key and slot, so it is a step of its own, taken before OTP_ISSUE.
# Replies {OK, 0} counted; {HOURLY_CAP, wait}.
OTP_ADMIN_SEND = LuaScript(
    "otp_admin_send",
    """
redis.call('ZREMRANGEBYSCORE', K.sends, '-inf', A.cutoff)
if redis.call('ZCARD', K.sends) >= tonumber(A.cap) then
  local oldest = redis.call('ZRANGE', K.sends, 0, 0, 'WITHSCORES')
  return {R.HOURLY_CAP, math.ceil(tonumber(oldest[2]) - tonumber(A.cutoff))}
end
redis.call('ZADD', K.sends, A.now, A.send_id)
redis.call('PEXPIRE', K.sends, A.window_ms)
return {R.OK, 0}
""",
    ("sends",),
    ("now", "cutoff", "cap", "send_id", "window_ms"),
)
