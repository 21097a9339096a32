--[[ reap_leases: hand out again the tasks whose lease expired (their worker died or
stalled), or dead-letter them with reason 'worker_lost' once they have lost
`max losses` leases. Bounded: at most `limit` tasks a call; any number of workers may
run it at once, since each expired task is moved exactly once.

KEYS[1] active  KEYS[2] pending  KEYS[3] dead  KEYS[4] events  KEYS[5] stats
KEYS[6] errors  KEYS[7] wake  KEYS[8] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] limit  ARGV[4] max losses
ARGV[5] dead TTL s  ARGV[6] dead max  ARGV[7] events MAXLEN  ARGV[8] wake bound

Returns: {requeued, dead}. When a key it would touch (the KEYS, the records of the
expired tasks) has the wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local base, now = ARGV[1], now_ms(ARGV[2])
check_keys()
if #damage > 0 then return damaged() end
local expired = rcall('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(expired) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
local requeued, buried = 0, 0
for _, id in ipairs(expired) do
  local task_key = base .. 'task:' .. id
  rcall('ZREM', KEYS[1], id)
  if rcall('EXISTS', task_key) == 1 then
    local lost = bump(task_key, 'lost')
    close_attempt(task_key, rcall('HGET', task_key, 'attempts'), now, 'lost')
    if lost >= tonumber(ARGV[4]) then
      rcall('HSET', task_key, 'worker', '', 'error_type', 'WorkerLost', 'error_message',
            'the worker running it stopped renewing its lease ' .. lost .. ' times', 'traceback', '')
      bury(KEYS[3], KEYS[6], task_key, id, now, tonumber(ARGV[5]), 'WorkerLost', 'worker_lost')
      emit(KEYS[4], ARGV[7], id, 'dead')
      buried = buried + 1
    else
      to_pending(KEYS[2], task_key, id)
      emit(KEYS[4], ARGV[7], id, 'pending')
      requeued = requeued + 1
    end
  end
end
if #expired > 0 then add(KEYS[5], 'lost', #expired) end
if buried > 0 then
  add(KEYS[5], 'dead', buried)
  trim_dead(base, KEYS[3], KEYS[6], KEYS[8], KEYS[5], now, tonumber(ARGV[5]), ARGV[6])
end
wake(KEYS[7], ARGV[8], requeued)
return {requeued, buried}
