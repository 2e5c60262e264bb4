"""The Lua text of the token filters' upkeep (:mod:`policies.operations.token_filters`).

Both scripts decide a token's status from its stored record inside Redis, atomically with
the writes that change it (a create or revoke is one APPLY step): a build racing a revoke
cannot file the token under a status it no longer has.
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

_KEYS = ("tokens", "index", "active", "expired", "revoked", "expiry", "terms")

# File tokens under their status and terms: A.items is [[key id, [term...]]...] (terms made
# by Python, which casefolds). A token gone from the hash is skipped. Replies how many.
FILE = LuaScript(
    "tokens_file",
    """
local now, filed = tonumber(A.now), 0
for _, item in ipairs(A.items) do
  local kid = item[1]
  local raw = redis.call('HGET', K.tokens, kid)
  if raw then
    local data = cjson.decode(raw)
    local score = redis.call('ZSCORE', K.index, kid) or '0'
    redis.call('ZREM', K.active, kid)
    redis.call('ZREM', K.expired, kid)
    redis.call('ZREM', K.revoked, kid)
    redis.call('ZREM', K.expiry, kid)
    local expires = data.expires
    if type(data.revoked) == 'number' then
      redis.call('ZADD', K.revoked, score, kid)
    elseif type(expires) == 'number' and now >= expires then
      redis.call('ZADD', K.expired, score, kid)
    else
      redis.call('ZADD', K.active, score, kid)
      if type(expires) == 'number' then redis.call('ZADD', K.expiry, expires, kid) end
    end
    for _, term in ipairs(item[2]) do redis.call('ZADD', K.terms, 0, term) end
    filed = filed + 1
  end
end
return filed
""",
    _KEYS,
    ("now", "items"),
    frozenset({"items"}),
)

# Move up to A.step active tokens whose expiry has come to the expired set. Replies how many.
EXPIRE = LuaScript(
    "tokens_expire",
    """
local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', A.now, 'LIMIT', 0, A.step)
for _, kid in ipairs(due) do
  local score = redis.call('ZSCORE', K.index, kid) or '0'
  redis.call('ZREM', K.expiry, kid)
  if redis.call('ZREM', K.active, kid) == 1 then redis.call('ZADD', K.expired, score, kid) end
end
return #due
""",
    _KEYS,
    ("now", "step"),
)
