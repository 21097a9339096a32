--[[ cancel_task: cancel a pending, scheduled or waiting task at once; for a processing one,
set the cancel request that the worker hears when it next renews its leases.

KEYS[1] pending  KEYS[2] scheduled  KEYS[3] cancelled  KEYS[4] events  KEYS[5] stats
KEYS[6] index  KEYS[7] waiting

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] id  ARGV[4] result TTL s
ARGV[5] events MAXLEN

Returns: {outcome, status before, worker}: outcome 'cancelled' or 'requested'; worker:
the id of the worker running it ('' unless requested: the broker wakes that worker).
When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: 'TQ_NOT_FOUND', 'TQ_INVALID_TRANSITION <status>' (completed, dead, cancelled).
]]
--- @include "common"

local pending, scheduled, cancelled = KEYS[1], KEYS[2], KEYS[3]
local events, stats, index, waiting = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local base, now, id, result_ttl = ARGV[1], now_ms(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local events_maxlen = ARGV[5]

local task_key = base .. 'task:' .. id
check_keys()
check(task_key, 'hash')
check_shared(base)
local held = held_scope(base, task_key)
if #damage > 0 then return damaged() end
local status = rcall('HGET', task_key, 'status')
if not status then return redis.error_reply('TQ_NOT_FOUND') end
if status == 'processing' then
  rcall('HSET', task_key, 'cancel_requested', 1)
  emit(events, events_maxlen, id, 'processing')
  return {'requested', status, rcall('HGET', task_key, 'worker') or ''}
end
if status ~= 'pending' and status ~= 'scheduled' and status ~= 'waiting' then
  return redis.error_reply('TQ_INVALID_TRANSITION ' .. status)
end
rcall('ZREM', pending, id)
rcall('ZREM', scheduled, id)
rcall('ZREM', waiting, id)
unlist_held(base, task_key, id, held)
rcall('HSET', task_key, 'status', 'cancelled', 'finished_at', now)
rcall('EXPIRE', task_key, result_ttl + 3600)
rcall('ZADD', cancelled, now, id)
add(stats, 'cancelled', 1)
emit(events, events_maxlen, id, 'cancelled')
notify(base, task_key, id, 'cancelled')
count_tenant(base, task_key, 'cancelled')
trim_finished(base, cancelled, index, now - result_ttl * 1000)
return {'cancelled', status}
