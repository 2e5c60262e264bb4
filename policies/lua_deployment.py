"""The Lua text of the operator's steps: a restore's last step, the catalog with its audit
entry, and the rewrap of one ciphertext (the everyday writes are :mod:`policies.lua`).

A restore commits like every workspace write (the shared head: version, audit entry,
event). The catalog belongs to the whole deployment (its audit stream shares the catalog's
slot, see :data:`policies.schema.DEPLOYMENT_AUDIT`), and a rewrap changes no policy, only
how a value is encrypted: neither bumps a workspace's version. Each step touches one slot,
so each is atomic on Redis Cluster too.
"""

from __future__ import annotations

from policies.lua import _HEAD, LuaScript  # the write scripts' common head (see there)

# A restore's last, atomic step (policies.operations.backup). KEYS[3..7] = the live
# credentials, rules, tokens, last-used and secrets keys; KEYS[8..12] = their staged copies.
# Own ARGV: the five staged sizes, then n and n meta field/value items. Each step is O(1) in
# the backup's size (RENAME moves a key, UNLINK frees leftovers in the background), so a
# large restore never blocks Redis. Replies -3: the workspace exists; -2: a staged section
# is not the size it was written with (expired or touched): nothing is made live.
RESTORE = LuaScript(
    "restore",
    _HEAD
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-3, 0} end
for i = 8, 12 do
  local size = tonumber(ARGV[s + i - 8])
  local found
  if i == 9 then found = redis.call('SCARD', KEYS[i]) else found = redis.call('HLEN', KEYS[i]) end
  if found ~= size then return {-2, 0} end
end
for i = 3, 7 do
  redis.call('UNLINK', KEYS[i])
  if redis.call('EXISTS', KEYS[i + 5]) == 1 then
    redis.call('RENAME', KEYS[i + 5], KEYS[i])
    redis.call('PERSIST', KEYS[i])
  end
end
local n = tonumber(ARGV[s + 5])
redis.call('HSET', KEYS[1], unpack(ARGV, s + 6, s + 5 + n))
redis.call('HSET', KEYS[1], 'version', 0)
return {1, commit()}
""",
)


# Store the catalog with its audit entry and event, in one step. KEYS = catalog, deployment
# audit stream (same slot). ARGV = catalog JSON, channel, fingerprint, audit MAXLEN, then the
# audit fields. Replies 1 changed (audited), 0 unchanged (no entry); the event goes out
# either way, so a gateway that missed one catches up.
CATALOG_SAVE = LuaScript(
    "catalog_save",
    """
local changed = 0
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
  changed = 1
end
redis.call('PUBLISH', ARGV[2], 'catalog ' .. ARGV[3])
return changed
""",
)

# Rewrap one ciphertext: KEYS = the hash; ARGV = field, the ciphertext read, its rewrap.
# Writes only if the value is still the one read (a concurrent change wins); 1 written.
REWRAP = LuaScript(
    "rewrap",
    """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
""",
)
