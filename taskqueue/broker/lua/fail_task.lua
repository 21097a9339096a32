--[[ fail_task: record a failed attempt; schedule a retry or move the task to the DLQ.
Fenced like complete_tasks. A retry is scheduled only when the worker asks for one
(delay >= 0) and the task has retries left (failures <= max_retries). Either way the
attempt counts in the queue's failed of this minute and this hour (common.lua's
count_minute).

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

local active, scheduled, dead, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local errors, index, timer = KEYS[6], KEYS[7], KEYS[8]
local base, now, id, attempt = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local retry_delay_ms, error_type, error_message = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local traceback, error_json, dead_ttl = ARGV[8], ARGV[9], tonumber(ARGV[10])
local dead_max, events_maxlen = ARGV[11], ARGV[12]

local task_key = base .. 'task:' .. id
check_keys()
check(base .. 'm:' .. math.floor(now / 60000), 'hash')
check(task_key, 'hash')
check_shared(base)
if #damage > 0 then return damaged() end
local cur = rcall('HMGET', task_key, 'status', 'attempts', 'max_retries')
if cur[1] ~= 'processing' or cur[2] ~= attempt then return 'stale' end

local failures = bump(task_key, 'failures')
rcall('ZREM', active, id)
rcall('HSET', task_key, 'error_type', error_type, 'error_message', error_message,
      'traceback', traceback, 'e:' .. attempt, error_json, 'worker', '')
add(stats, 'failed', 1)
count_minute(base, now, 'failed', 1)

local outcome
if retry_delay_ms >= 0 and failures <= whole(cur[3], 0) then
  close_attempt(task_key, attempt, now, 'retry')
  rcall('HSET', task_key, 'status', 'scheduled', 'run_at', now + retry_delay_ms,
        'lease_until', '')
  rcall('ZADD', scheduled, now + retry_delay_ms, id)
  arm_timer(timer)
  add(stats, 'retried', 1)
  outcome = 'scheduled'
else
  close_attempt(task_key, attempt, now, 'dead')
  bury(dead, errors, task_key, id, now, dead_ttl, error_type, 'failed')
  add(stats, 'dead', 1)
  trim_dead(base, dead, errors, index, stats, now, dead_ttl, dead_max)
  notify(base, task_key, id, 'dead')
  count_tenant(base, task_key, 'dead')
  outcome = 'dead'
end
emit(events, events_maxlen, id, outcome)
return outcome
