--[[ purge_pending: delete up to `limit` pending tasks (the caller loops while the reply
says there may be more, so a big queue never blocks Redis for long). Scheduled and
running tasks are untouched.

With a confirmation token (snapshot_pending.lua noted the ids the operator was shown):
only those ids are candidates, so a task that became pending since is never deleted.
The next `limit` ids noted are taken (and forgotten); those still pending are deleted,
the others are counted by their status now ('missing': no record any more).

KEYS[1] pending  KEYS[2] index  KEYS[3] events  KEYS[4] stats

ARGV[1] base  ARGV[2] limit  ARGV[3] events MAXLEN
ARGV[4] confirmation token ('': every pending task is a candidate)

Returns: {deleted, more (1: call again), status, n, status, n, ...}: `more` is 1 while
pending (no token) or the confirmation (token) may hold more; the pairs count the noted
ids that were no longer pending. When a key it would touch (the KEYS, the confirmation,
the records it would delete) has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local pending, index, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local base, limit, events_maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local token = ARGV[4]

check_keys()
check_shared(base)
local confirmation = token ~= '' and base .. 'confirm:' .. token or nil
if confirmation then check(confirmation, 'zset') end
if #damage > 0 then return damaged() end
local ids, gone, taken = {}, {}, nil
if confirmation then
  taken = rcall('ZRANGE', confirmation, 0, limit - 1)
  for _, id in ipairs(taken) do
    if rcall('ZSCORE', pending, id) then
      ids[#ids + 1] = id
    else
      local status = hash_field(base .. 'task:' .. id, 'status') or 'missing'
      gone[status] = (gone[status] or 0) + 1
    end
  end
else
  ids = rcall('ZRANGE', pending, 0, limit - 1)
end
for _, id in ipairs(ids) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
for _, id in ipairs(ids) do
  rcall('ZREM', pending, id)
  count_tenant(base, base .. 'task:' .. id, 'deleted')
  rcall('DEL', base .. 'task:' .. id)
  rcall('ZREM', index, id)
end
local n, more = #ids, 0
if n > 0 then
  add(stats, 'purged', n)
  emit_queue(events, events_maxlen, 'purged', n)
end
if confirmation then
  if #taken > 0 then rcall('ZREM', confirmation, unpack(taken)) end
  if rcall('EXISTS', confirmation) == 1 then more = 1 end
elseif n == limit then
  more = 1
end
local out = {n, more}
for status, count in pairs(gone) do
  out[#out + 1] = status
  out[#out + 1] = count
end
return out
