"""The Lua of the notification queue (:mod:`policies.operations.notify`).

A workspace's queue is four keys of its slot: ``outbox`` (a stream: one entry per event,
its JSON), ``due`` (a sorted set: one member ``<channel> <entry id>`` per delivery, scored
by when it is next tried; 0 means now), ``tries`` (a hash: attempts so far) and the
``notify`` hash (the endpoint, its encrypted secret, the mail addresses, counters and each
channel's last outcome). :data:`NOTIFY` is the function every audited write runs after
its entry: an event of a notifiable action (``A.notice``, JSON; ``''`` for the others)
joins the queue when the workspace has a channel, the oldest beyond ``MAX_QUEUE`` dropped
and counted.

Design notes: ``docs/architecture.md``.
"""

from __future__ import annotations

from policies.storage.scripting import LuaScript

MAX_QUEUE = 1000  # events a workspace's outbox holds; beyond: the oldest dropped, counted
MAX_DEAD = 50  # dead letters kept (the newest)
NOTIFY_KEYS = ("notify", "outbox", "due", "tries")

NOTIFY = f"""
local function notify(notice)
  if notice == '' then return 0 end
  local channels = redis.call('HMGET', K.notify, 'url', 'emails')
  if not channels[1] and not channels[2] then return 0 end
  local id = redis.call('XADD', K.outbox, '*', 'event', notice)
  if channels[1] then redis.call('ZADD', K.due, 0, 'webhook ' .. id) end
  if channels[2] then redis.call('ZADD', K.due, 0, 'mail ' .. id) end
  local over = redis.call('XLEN', K.outbox) - {MAX_QUEUE}
  if over > 0 then
    for _, old in ipairs(redis.call('XRANGE', K.outbox, '-', '+', 'COUNT', over)) do
      redis.call('XDEL', K.outbox, old[1])
      redis.call('ZREM', K.due, 'webhook ' .. old[1], 'mail ' .. old[1])
      redis.call('HDEL', K.tries, 'webhook ' .. old[1], 'mail ' .. old[1])
    end
    redis.call('HINCRBY', K.notify, 'dropped', over)
  end
  return 1
end
"""

# An audit entry that changes nothing else (a reveal), and its notice.
NOTE = LuaScript(
    "notify_note",
    NOTIFY
    + """
redis.call('XADD', K.audit, 'MAXLEN', '~', A.maxlen, '*', unpack(A.audit))
return notify(A.notice)
""",
    ("audit", *NOTIFY_KEYS),
    ("maxlen", "audit", "notice"),
    frozenset({"audit"}),
)

# A notice the store decides to give at most once: a key refused for its rate limit (once
# within A.within seconds of the last, by the store's clock), a token expiring (once per
# expiry: A.within ''). Replies 1 noted, 0 already noted, -1 no such workspace.
MARK = LuaScript(
    "notify_mark",
    NOTIFY
    + """
if redis.call('EXISTS', K.meta) == 0 then return -1 end
local last = redis.call('HGET', K.marks, A.field)
if last then
  if A.within == '' and last == A.value then return 0 end
  if A.within ~= '' and tonumber(A.value) - tonumber(last) < tonumber(A.within) then return 0 end
end
redis.call('HSET', K.marks, A.field, A.value)
redis.call('XADD', K.audit, 'MAXLEN', '~', A.maxlen, '*', unpack(A.audit))
notify(A.notice)
return 1
""",
    ("meta", "audit", *NOTIFY_KEYS, "marks"),
    ("field", "value", "within", "maxlen", "audit", "notice"),
    frozenset({"audit"}),
)

# Take up to A.count due deliveries: each is leased (its score moved to A.lease, so a
# worker that dies leaves it to be tried again then). Reply: {url, secret, emails,
# {{member, event, tries}...}}; a delivery whose event is gone is dropped.
CLAIM = LuaScript(
    "notify_claim",
    """
local cfg = redis.call('HMGET', K.notify, 'url', 'secret', 'emails')
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', K.due, '-inf', A.now, 'LIMIT', 0, A.count)) do
  local id = string.match(m, ' (.+)$')
  local entry = id and redis.call('XRANGE', K.outbox, id, id)[1]
  if entry then
    redis.call('ZADD', K.due, A.lease, m)
    out[#out + 1] = {m, entry[2][2], redis.call('HGET', K.tries, m) or '0'}
  else
    redis.call('ZREM', K.due, m)
    redis.call('HDEL', K.tries, m)
  end
end
return {cfg[1] or '', cfg[2] or '', cfg[3] or '', out}
""",
    NOTIFY_KEYS,
    ("now", "lease", "count"),
)

# A delivery's end, if it is still this worker's (leased at A.lease): 'ok' and 'dead' take
# it off the queue (its event too once no other channel waits), 'retry' schedules it for
# A.next, 'release' gives it back untried (due at A.next). Each channel's last outcome is
# kept for the Tokens page. Replies 1, or 0: the lease was lost (another worker has it).
FINISH = LuaScript(
    "notify_finish",
    f"""
local score = redis.call('ZSCORE', K.due, A.member)
if not score or tonumber(score) ~= tonumber(A.lease) then return 0 end
local channel, id = string.match(A.member, '^(%a+) (.+)$')
if A.outcome == 'release' then
  redis.call('ZADD', K.due, A.next, A.member)
  return 1
end
if A.outcome == 'retry' then
  redis.call('ZADD', K.due, A.next, A.member)
  redis.call('HINCRBY', K.tries, A.member, 1)
else
  redis.call('ZREM', K.due, A.member)
  redis.call('HDEL', K.tries, A.member)
  if A.outcome == 'dead' then
    redis.call('LPUSH', K.dead, A.record)
    redis.call('LTRIM', K.dead, 0, {MAX_DEAD - 1})
    redis.call('HINCRBY', K.notify, 'dead', 1)
  else
    redis.call('HINCRBY', K.notify, channel .. ':delivered', 1)
  end
  local other = (channel == 'webhook' and 'mail ' or 'webhook ') .. id
  if not redis.call('ZSCORE', K.due, other) then redis.call('XDEL', K.outbox, id) end
end
redis.call('HSET', K.notify, channel .. ':status', A.status, channel .. ':error', A.error,
  channel .. ':at', A.now, channel .. ':next', A.outcome == 'retry' and A.next or '')
return 1
""",
    (*NOTIFY_KEYS, "dead"),
    ("member", "lease", "outcome", "next", "status", "error", "now", "record"),
)
