--[[ finish_cancelled: a worker stopped a running task because a cancel was requested;
record it as cancelled. Fenced like complete_tasks.

KEYS[1] active  KEYS[2] cancelled  KEYS[3] events  KEYS[4] stats  KEYS[5] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] id  ARGV[4] attempt
ARGV[5] result TTL s  ARGV[6] events MAXLEN

Returns: 1 recorded, 0 refused (stale attempt).
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"

local active, cancelled, events, stats, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, now, id, attempt = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local result_ttl, events_maxlen = tonumber(ARGV[5]), ARGV[6]

local task_key = base .. 'task:' .. id
check_keys()
check(task_key, 'hash')
check_shared(base)
if #damage > 0 then return damaged() end
local cur = rcall('HMGET', task_key, 'status', 'attempts')
if cur[1] ~= 'processing' or cur[2] ~= attempt then return 0 end
rcall('ZREM', active, id)
close_attempt(task_key, attempt, now, 'cancelled')
rcall('HSET', task_key, 'status', 'cancelled', 'finished_at', now, 'lease_until', '',
      'worker', '')
rcall('EXPIRE', task_key, result_ttl + 3600)
rcall('ZADD', cancelled, now, id)
add(stats, 'cancelled', 1)
emit(events, events_maxlen, id, 'cancelled')
notify(base, task_key, id, 'cancelled')
count_tenant(base, task_key, 'cancelled')
trim_finished(base, cancelled, index, now - result_ttl * 1000)
return 1
