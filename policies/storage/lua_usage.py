"""The Lua text of the usage flush: counts added to a workspace's buckets, bounded per key.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

# Add a flush's counts to the minute, hour and day buckets of one workspace (one slot).
# A.groups: one [subject, a_rows, g_rows] per key (subject): a_rows [field, n, outcome] of
# 'a' fields, g_rows [field, n, action] of 'g' fields (action escaped as in the field);
# A.totals: [field, n] added to the day bucket only; A.expires: each bucket's EXPIREAT.
# A bucket admits at most A.max_a 'a' fields and A.max_g 'g' fields per subject, counted in
# its fields 'n|<subject>|a' and 'n|<subject>|g': new fields past the bound are folded into
# the overflow rows (A.other_action / A.other_origin, labels no caller can send); an origin
# of an action that was folded goes to that action's overflow row. Each bucket costs one
# HMGET and one HSET of the chunk's fields (the sums made here, atomically), whatever its
# size; only each overflow row costs a call of its own. Replies with the rows folded.
COUNT = LuaScript(
    "usage_count",
    """
local max_a, max_g = tonumber(A.max_a), tonumber(A.max_g)
local folded = 0
local function slices(command, bucket, items, step)
  local replies = {}
  for first = 1, #items, step do
    local last = math.min(first + step - 1, #items)
    local reply = redis.call(command, bucket, unpack(items, first, last))
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do replies[#replies + 1] = value end
    end
  end
  return replies
end
for i, bucket in ipairs({K.minute, K.hour, K.day}) do
  local names = {}
  for _, group in ipairs(A.groups) do
    local s = group[1]
    names[#names + 1] = 'n|' .. s .. '|a'
    names[#names + 1] = 'n|' .. s .. '|g'
    for _, row in ipairs(group[2]) do names[#names + 1] = row[1] end
    for _, row in ipairs(group[3]) do
      names[#names + 1] = row[1]
      names[#names + 1] = 'a|' .. s .. '|' .. row[3] .. '|' .. A.allowed
    end
  end
  local now = {}
  local values = slices('HMGET', bucket, names, 2000)
  for j, name in ipairs(names) do
    if values[j] then now[name] = tonumber(values[j]) end
  end
  local changed, extra = {}, {}
  local function fold(field, n)
    extra[field] = (extra[field] or 0) + n
    folded = folded + 1
  end
  local function add(field, n, counter, cap, overflow)
    local value = now[field]
    if value == nil and field == overflow then  -- a gateway's own overflow row: no bound
      value = 0
    elseif value == nil then
      local used = now[counter] or 0
      if used >= cap then return fold(overflow, n) end
      now[counter] = used + 1
      changed[counter] = true
      value = 0
    end
    now[field] = value + n
    changed[field] = true
  end
  for _, group in ipairs(A.groups) do
    local s = group[1]
    local counter = 'n|' .. s .. '|a'
    for _, row in ipairs(group[2]) do
      add(row[1], row[2], counter, max_a, 'a|' .. s .. '|' .. A.other_action .. '|' .. row[3])
    end
    counter = 'n|' .. s .. '|g'
    for _, row in ipairs(group[3]) do
      local g = 'g|' .. s .. '|'
      if now['a|' .. s .. '|' .. row[3] .. '|' .. A.allowed] then
        add(row[1], row[2], counter, max_g, g .. row[3] .. '|' .. A.other_origin)
      else
        fold(g .. A.other_action .. '|' .. A.other_origin, row[2])
      end
    end
  end
  for field, n in pairs(extra) do  -- the folded counts: one call per overflow row at most
    if changed[field] then
      now[field] = now[field] + n
    else
      redis.call('HINCRBY', bucket, field, n)
    end
  end
  local items = {}
  for name in pairs(changed) do
    items[#items + 1] = name
    items[#items + 1] = now[name]
  end
  if bucket == K.day then
    for _, total in ipairs(A.totals) do redis.call('HINCRBY', bucket, total[1], total[2]) end
  end
  slices('HSET', bucket, items, 2000)
  redis.call('EXPIREAT', bucket, A.expires[i])
end
return folded
""",
    ("minute", "hour", "day"),
    ("groups", "totals", "expires", "max_a", "max_g", "allowed", "other_action", "other_origin"),
    frozenset({"groups", "totals", "expires"}),
)

# A reader's sums of some buckets (KEYS: the buckets, one slot): each bucket's 'a' and 'g'
# fields of subject A.subject ('': every subject's), summed by (kind, action, label) inside
# Redis, so a reply holds one row per action and outcome or origin, not one per key. A
# bucket of more than A.cap fields (one written before the bound) is read in part, by HSCAN
# up to about A.sample fields, and the reply says so; origins past A.rows distinct ones in a bucket
# are summed into their action's overflow row (A.other_origin), partial too. Replies
# {partial (0/1), {name, n, ...} per bucket}; a name is 'kind|subject|action|label'
# (subject '*' for every subject's).
SUM = LuaScript(
    "usage_sum",
    """
local cap, sample, rows_cap = tonumber(A.cap), tonumber(A.sample), tonumber(A.rows)
local partial = 0
local result = {}
local function fields(bucket)
  if redis.call('HLEN', bucket) <= cap then return redis.call('HGETALL', bucket) end
  partial = 1
  local read, cursor = {}, '0'
  repeat
    local reply = redis.call('HSCAN', bucket, cursor, 'COUNT', 1000)
    cursor = reply[1]
    for _, item in ipairs(reply[2]) do read[#read + 1] = item end
  until cursor == '0' or #read >= 2 * sample
  return read
end
for b, bucket in ipairs(K.buckets) do
  local flat = fields(bucket)
  local sums, order, origins = {}, {}, 0
  for j = 1, #flat, 2 do
    local kind, subject, rest = string.match(flat[j], '^([ag])|([^|]*)|(.*)$')
    if kind and (A.subject == '' or subject == A.subject) then
      local name = kind .. '|' .. (A.subject == '' and '*' or subject) .. '|' .. rest
      local before = sums[name]
      if before == nil and kind == 'g' then
        origins = origins + 1
        if origins > rows_cap then  -- past the rows a reply holds: the origins' overflow row
          partial = 1
          name = string.match(name, '^(g|[^|]*|[^|]*|)') .. A.other_origin
          before = sums[name]
        end
      end
      if before == nil then order[#order + 1] = name; before = 0 end
      sums[name] = before + tonumber(flat[j + 1])
    end
  end
  local rows = {}
  for _, name in ipairs(order) do
    rows[#rows + 1] = name
    rows[#rows + 1] = sums[name]
  end
  result[b] = rows
end
return {partial, result}
""",
    ("*buckets",),
    ("subject", "cap", "sample", "rows", "other_origin"),
)
