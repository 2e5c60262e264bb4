"""The Lua text of the token filters' upkeep (:mod:`policies.operations.token_filters`).

A create or a revoke files a token in its own APPLY step; a build (:data:`FILE`) files what
it read, unless the revoked set holds the token by then: a build racing a revoke cannot
file it under a status it no longer has.
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

_KEYS = ("tokens", "index", "active", "expired", "revoked", "expiry", "terms")

# File tokens as Python read them: A.items is [[key id, status, score, expiry or '', [term...]]
# ...]. A token the revoked set holds keeps its status (a revoke, the one writer that
# changes a status, ran after the read). Replies how many were filed.
FILE = LuaScript(
    "tokens_file",
    """
local sets = {active = {}, expired = {}, revoked = {}}
local expiry, terms, filed = {}, {}, 0
for _, item in ipairs(A.items) do
  local kid, status = item[1], item[2]
  if not redis.call('ZSCORE', K.revoked, kid) then
    if status ~= 'active' then redis.call('ZREM', K.active, kid) end
    if status ~= 'expired' then redis.call('ZREM', K.expired, kid) end
    table.insert(sets[status], item[3])
    table.insert(sets[status], kid)
    if status == 'active' and item[4] ~= '' then
      table.insert(expiry, item[4])
      table.insert(expiry, kid)
    else
      redis.call('ZREM', K.expiry, kid)
    end
    filed = filed + 1
  end
  for _, term in ipairs(item[5]) do
    table.insert(terms, 0)
    table.insert(terms, term)
  end
end
local function add(key, items)
  for first = 1, #items, 1000 do
    redis.call('ZADD', key, unpack(items, first, math.min(first + 999, #items)))
  end
end
add(K.active, sets.active)
add(K.expired, sets.expired)
add(K.revoked, sets.revoked)
add(K.expiry, expiry)
add(K.terms, terms)
return filed
""",
    _KEYS,
    ("items",),
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

# A text with a status: the text's matches (terms between A.low1 and A.high1, then A.low2
# and A.high2), A.window of them at most, kept if the status set holds their key id (each
# key id once). Replies {matched, matches left unread, the key ids from A.start, A.limit}.
SEARCH = LuaScript(
    "tokens_search",
    """
local window, start, limit = tonumber(A.window), tonumber(A.start), tonumber(A.limit)
local seen, matched, left, page = {}, 0, 0, {}
for _, range in ipairs({{A.low1, A.high1}, {A.low2, A.high2}}) do
  local found = {}
  if window > 0 then
    found = redis.call('ZRANGEBYLEX', K.terms, range[1], range[2], 'LIMIT', 0, window)
  end
  if #found == window then
    left = left + redis.call('ZLEXCOUNT', K.terms, range[1], range[2]) - window
  end
  window = window - #found
  for _, term in ipairs(found) do
    local kid = string.match(term, '%z([^%z]*)$')
    if not seen[kid] then
      seen[kid] = true
      if redis.call('ZSCORE', K.status, kid) then
        matched = matched + 1
        if matched > start and matched <= start + limit then table.insert(page, kid) end
      end
    end
  end
end
return {matched, left, page}
""",
    ("terms", "status"),
    ("low1", "high1", "low2", "high2", "window", "start", "limit"),
)
