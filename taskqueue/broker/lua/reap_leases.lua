--[[ reap_leases: hand out again the tasks whose lease expired (their worker died or
stalled), or dead-letter them with reason 'worker_lost' once they have lost
`max losses` leases. Bounded: at most `limit` tasks a call; any number of workers may
run it at once, since each expired task is moved exactly once.

KEYS[1] active  KEYS[2] pending  KEYS[3] dead  KEYS[4] events  KEYS[5] stats
KEYS[6] errors  KEYS[7] wake  KEYS[8] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] limit  ARGV[4] max losses
ARGV[5] dead TTL s  ARGV[6] dead max  ARGV[7] events MAXLEN  ARGV[8] wake bound
ARGV[9] band width (priority.BAND_WIDTH: the pending score, common.lua)

Returns: {requeued, dead}. When a key it would touch (the KEYS, the records of the
expired tasks) has the wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local active, pending, dead, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local errors, wake, index = KEYS[6], KEYS[7], KEYS[8]
local base, now, limit, max_losses = ARGV[1], now_ms(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local dead_ttl, dead_max, events_maxlen = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local wake_bound = ARGV[8]
local band_width = tonumber(ARGV[9])

check_keys()
check_shared(base)
if #damage > 0 then return damaged() end
local expired = rcall('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
local requeued, buried = 0, 0
for _, id in ipairs(expired) do
  local task_key = base .. 'task:' .. id
  rcall('ZREM', active, id)
  if rcall('EXISTS', task_key) == 1 then
    local lost = bump(task_key, 'lost')
    close_attempt(task_key, rcall('HGET', task_key, 'attempts'), now, 'lost')
    if lost >= max_losses then
      rcall('HSET', task_key, 'worker', '', 'error_type', 'WorkerLost', 'error_message',
            'the worker running it stopped renewing its lease ' .. lost .. ' times', 'traceback', '')
      bury(dead, errors, task_key, id, now, dead_ttl, 'WorkerLost', 'worker_lost')
      notify(base, task_key, id, 'dead')
      count_tenant(base, task_key, 'dead')
      emit(events, events_maxlen, id, 'dead')
      buried = buried + 1
    else
      to_pending(pending, task_key, id, band_width)
      emit(events, events_maxlen, id, 'pending')
      requeued = requeued + 1
    end
  end
end
if #expired > 0 then add(stats, 'lost', #expired) end
if buried > 0 then
  add(stats, 'dead', buried)
  trim_dead(base, dead, errors, index, stats, now, dead_ttl, dead_max)
end
wake_workers(wake, wake_bound, requeued)
return {requeued, buried}
