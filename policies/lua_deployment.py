"""The Lua text of the deployment-level steps: the catalog with its audit entry, and the
rewrap of one ciphertext.

Unlike :mod:`policies.lua`'s workspace writes, these bump no workspace's version: a catalog
belongs to the whole deployment (its audit stream shares the catalog's slot, see
:data:`policies.schema.DEPLOYMENT_AUDIT`), and a rewrap changes no policy, only how a value
is encrypted. Each touches one slot, so each is atomic on Redis Cluster too.
"""

from __future__ import annotations

from policies.lua import LuaScript

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
