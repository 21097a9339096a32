--[[ claim_tasks: pop up to N pending tasks, highest priority first, FIFO within one,
and move each into the active set under a lease, in one step (no task can be lost
between the pop and the lease). Claiming bumps the attempt number: the fencing token
every later report on this attempt must present.

KEYS[1] pending  KEYS[2] active  KEYS[3] paused  KEYS[4] events  KEYS[5] stats

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] max tasks
ARGV[4] lease ms  ARGV[5] worker id  ARGV[6] events MAXLEN

Returns: 10 values per claimed task: id, attempt, name, args JSON, kwargs JSON,
timeout s ('' = none), failures so far, max retries, meta JSON, leases lost so far. Empty when the queue
is paused or empty. An id whose record is missing is dropped and counted as an orphan.
Errors: none.
]]
--- @include "common"

if rcall('EXISTS', KEYS[3]) == 1 then return {} end
local base, now = ARGV[1], now_ms(ARGV[2])
local deadline, worker = now + tonumber(ARGV[4]), ARGV[5]
local popped = rcall('ZPOPMIN', KEYS[1], ARGV[3])
local out, orphans = {}, 0
for i = 1, #popped, 2 do
  local id = popped[i]
  local task_key = base .. 'task:' .. id
  if rcall('EXISTS', task_key) == 0 then
    orphans = orphans + 1
  else
    local attempt = bump(task_key, 'attempts')
    rcall('HSET', task_key, 'status', 'processing', 'worker', worker, 'started_at', now,
          'heartbeat_at', now, 'lease_until', deadline, 'h:' .. attempt, worker .. '|' .. now)
    rcall('ZADD', KEYS[2], deadline, id)
    local f = rcall('HMGET', task_key, 'name', 'args', 'kwargs', 'timeout', 'failures',
                    'max_retries', 'meta', 'lost')
    out[#out + 1] = id
    out[#out + 1] = attempt
    for j = 1, 8 do out[#out + 1] = f[j] or '' end
    emit(KEYS[4], ARGV[6], id, 'processing')
  end
end
if orphans > 0 then rcall('HINCRBY', KEYS[5], 'orphans', orphans) end
return out
