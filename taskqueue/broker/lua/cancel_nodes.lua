--[[ cancel_nodes: cancel tasks of a workflow that has been cancelled, or whose parent
was cancelled or deleted: waiting, pending and scheduled ones at once; a processing
one is asked to stop (its cancel request, heard at its next heartbeat). Finished ones
are left alone. Each cancelled task tells its workflows (common.lua's notify), so
their own children are cancelled in turn. Only tasks the workflow owns (record field
'workflow'; not the existing tasks it waits for) are touched.

KEYS[1] waiting  KEYS[2] pending  KEYS[3] scheduled  KEYS[4] cancelled
KEYS[5] events   KEYS[6] stats    KEYS[7] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s
ARGV[4] events MAXLEN  ARGV[5] the workflow id asking  ARGV[6..] task ids

Returns: one value per id: its status before ('missing': no such task; 'foreign': a
task the workflow does not own, left alone).
When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local waiting, pending, scheduled, cancelled = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events, stats, index = KEYS[5], KEYS[6], KEYS[7]
local base, now, result_ttl, events_maxlen = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local workflow = ARGV[5]
local FIRST_ID = 6  -- ARGV[6..]: task ids
local STOPPABLE = {waiting = waiting, pending = pending, scheduled = scheduled}

check_keys()
for i = FIRST_ID, #ARGV do check(base .. 'task:' .. ARGV[i], 'hash') end
check_shared(base)
if #damage > 0 then return damaged() end
local out, n = {}, 0
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'workflow')
  local status = cur[1] or 'missing'
  if cur[1] and cur[2] ~= workflow then status = 'foreign' end
  if STOPPABLE[status] then
    rcall('ZREM', STOPPABLE[status], id)
    rcall('HSET', task_key, 'status', 'cancelled', 'finished_at', now)
    rcall('EXPIRE', task_key, result_ttl + 3600)
    rcall('ZADD', cancelled, now, id)
    emit(events, events_maxlen, id, 'cancelled')
    notify(base, task_key, id, 'cancelled')
    count_tenant(base, task_key, 'cancelled')
    n = n + 1
  elseif status == 'processing' then
    rcall('HSET', task_key, 'cancel_requested', 1)
    emit(events, events_maxlen, id, 'processing')
  end
  out[#out + 1] = status
end
if n > 0 then add(stats, 'cancelled', n) end
return out
