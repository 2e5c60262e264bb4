"""The Lua text of a leak report's claim (:mod:`policies.operations.leaks`).

A report claims the reported key (its digest) in the workspace's ``leaks`` hash before it
acts: the first claim wins, so a key reported twice, or by two reporters at once, is acted
on once. A claim left ``pending`` by a process that died before finishing is taken over
once it is ``stale`` seconds old. Reply: 1 claimed, 0 reported before, -1 being handled
(claimed, not yet done: the reporter should try again, not hear "done").
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

LEAK_CLAIM = LuaScript(
    "leak_claim",
    """
local held = redis.call('HGET', K.leaks, A.digest)
if held then
  local at, state = string.match(held, '^(%S+) (%a+)$')
  if state ~= 'pending' or tonumber(at) == nil then return 0 end
  if tonumber(at) > tonumber(A.now) - tonumber(A.stale) then return -1 end
end
redis.call('HSET', K.leaks, A.digest, A.now .. ' pending')
return 1
""",
    ("leaks",),
    ("digest", "now", "stale"),
)
