"""The Lua text of the operator's steps: a restore's last step, the catalog with its audit
entry, and the rewrap of one ciphertext (the everyday writes are :mod:`policies.storage.lua`).

A restore commits like every workspace write (the shared head: version, audit entry,
event). The catalog belongs to the whole deployment (its audit stream shares the catalog's
slot, see :data:`policies.storage.schema.DEPLOYMENT_AUDIT`), and a rewrap changes no policy, only
how a value is encrypted: neither bumps a workspace's version. Each step touches one slot,
so each is atomic on Redis Cluster too.
"""

from __future__ import annotations

from policies.storage.lua import write_script
from policies.storage.scripting import LuaScript

SECTIONS = ("credentials", "rules", "tokens", "last_used", "secrets", "limits", "token_index")
# The restore's Lua loops over the same list, made from SECTIONS so the two cannot drift apart.
_LUA_SECTIONS = "{" + ", ".join(f"'{name}'" for name in SECTIONS) + "}"

# A restore's last, atomic step (policies.operations.backup): the live keys of SECTIONS and
# their staged copies (staged_*; token_index: the tokens' sorted index, made from the
# tokens), the staged sizes, and the meta hash's fields as one list of field/value items;
# the notify hash is replaced by the backup's notification settings (notify_fields, the
# same way; none: no settings, runtime counters of a lost workspace do not survive).
# Each step is O(1) in the backup's size (RENAME moves a key, UNLINK frees leftovers in the
# background), so a large restore never blocks Redis. Replies EXISTS:
# the workspace exists; STAGED_MISMATCH: a staged section is not the size it was written
# with (expired or touched): nothing is made live.
RESTORE = write_script(
    "restore",
    (*SECTIONS, *(f"staged_{n}" for n in SECTIONS)),
    ("sizes", "meta_fields", "notify_fields"),
    """
if redis.call('EXISTS', K.meta) == 1 then return {R.EXISTS, 0} end
local sections = """
    + _LUA_SECTIONS
    + """
for i, name in ipairs(sections) do
  local staged = K['staged_' .. name]
  local count = 'HLEN'
  if name == 'rules' then count = 'SCARD' end
  if name == 'token_index' then count = 'ZCARD' end
  local found = redis.call(count, staged)
  if found ~= tonumber(A.sizes[i]) then return {R.STAGED_MISMATCH, 0} end
end
for _, name in ipairs(sections) do
  redis.call('UNLINK', K[name])
  if redis.call('EXISTS', K['staged_' .. name]) == 1 then
    redis.call('RENAME', K['staged_' .. name], K[name])
    redis.call('PERSIST', K[name])
  end
end
redis.call('HSET', K.meta, unpack(A.meta_fields))
redis.call('HSET', K.meta, 'version', 0)
redis.call('UNLINK', K.notify)
if #A.notify_fields > 0 then redis.call('HSET', K.notify, unpack(A.notify_fields)) end
return {R.OK, commit()}
""",
    frozenset({"sizes", "meta_fields", "notify_fields"}),
)


# Store the catalog with its audit entry and event, in one step (the catalog and the
# deployment's audit stream share a slot). Replies OK changed (audited), UNCHANGED (no
# entry); the event goes out either way, so a gateway that missed one catches up.
CATALOG_SAVE = LuaScript(
    "catalog_save",
    """
local changed = R.UNCHANGED
if redis.call('GET', K.catalog) ~= A.catalog then
  redis.call('SET', K.catalog, A.catalog)
  redis.call('XADD', K.audit, 'MAXLEN', '~', A.maxlen, '*', unpack(A.audit))
  changed = R.OK
end
redis.call('PUBLISH', A.channel, 'catalog ' .. A.fingerprint)
return changed
""",
    ("catalog", "audit"),
    ("catalog", "channel", "fingerprint", "maxlen", "audit"),
    frozenset({"audit"}),
)

# Rewrap one ciphertext: written only if the value is still the one read (a concurrent
# change wins). Replies OK written, UNCHANGED not.
REWRAP = LuaScript(
    "rewrap",
    """
if redis.call('HGET', K.hash, A.field) ~= A.read then return R.UNCHANGED end
redis.call('HSET', K.hash, A.field, A.rewrapped)
return R.OK
""",
    ("hash",),
    ("field", "read", "rewrapped"),
)
