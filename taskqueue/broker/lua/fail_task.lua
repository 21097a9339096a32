--[[ fail_task: record a failed attempt; schedule a retry or move the task to the DLQ.
Fenced like complete_tasks. A retry is scheduled only when the worker asks for one
(delay >= 0) and the task has retries left (failures <= max_retries).

KEYS[1] active  KEYS[2] scheduled  KEYS[3] dead  KEYS[4] events  KEYS[5] stats
KEYS[6] errors  KEYS[7] index  KEYS[8] timer

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] id  ARGV[4] attempt
ARGV[5] retry delay ms (-1 = do not retry)  ARGV[6] error type  ARGV[7] error message
ARGV[8] traceback  ARGV[9] error JSON (kept per attempt)  ARGV[10] dead TTL s
ARGV[11] dead max  ARGV[12] events MAXLEN

Returns: 'scheduled' (retry due at now + delay), 'dead', or 'stale' (refused).
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"

local base, now, id, attempt = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local task_key = base .. 'task:' .. id
check_keys()
check(base .. 'm:' .. math.floor(now / 60000), 'hash')
check(task_key, 'hash')
if #damage > 0 then return damaged() end
local cur = rcall('HMGET', task_key, 'status', 'attempts', 'max_retries')
if cur[1] ~= 'processing' or cur[2] ~= attempt then return 'stale' end

local delay = tonumber(ARGV[5])
local failures = bump(task_key, 'failures')
rcall('ZREM', KEYS[1], id)
rcall('HSET', task_key, 'error_type', ARGV[6], 'error_message', ARGV[7],
      'traceback', ARGV[8], 'e:' .. attempt, ARGV[9], 'worker', '')
add(KEYS[5], 'failed', 1)
count_minute(base, now, 'failed', 1)

local outcome
if delay >= 0 and failures <= whole(cur[3], 0) then
  close_attempt(task_key, attempt, now, 'retry')
  rcall('HSET', task_key, 'status', 'scheduled', 'run_at', now + delay, 'lease_until', '')
  rcall('ZADD', KEYS[2], now + delay, id)
  arm_timer(KEYS[8])
  add(KEYS[5], 'retried', 1)
  outcome = 'scheduled'
else
  close_attempt(task_key, attempt, now, 'dead')
  bury(KEYS[3], KEYS[6], task_key, id, now, tonumber(ARGV[10]), ARGV[6], 'failed')
  add(KEYS[5], 'dead', 1)
  trim_dead(base, KEYS[3], KEYS[6], KEYS[7], KEYS[5], now, tonumber(ARGV[10]), ARGV[11])
  outcome = 'dead'
end
emit(KEYS[4], ARGV[12], id, outcome)
return outcome
