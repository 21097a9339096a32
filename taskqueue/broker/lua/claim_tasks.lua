--[[ claim_tasks: pop up to N pending tasks, highest priority first, FIFO within one,
and move each into the active set under a lease, in one step (no task can be lost
between the pop and the lease). Claiming bumps the attempt number: the fencing token
every later report on this attempt must present.

Suspects (tasks that lost a lease: their worker died, maybe because of them) are only
ever held alone, so that a worker that dies while holding one can blame nobody else:
mode 'alone' (the worker holds nothing) takes a suspect at the head of the line by
itself; mode 'busy' (it holds other tasks) leaves suspects in place and takes the
tasks behind them. Either way the reply ends with how many suspects were passed over,
so the worker can finish what it holds and come back for them. Mode '' takes every
task in order, suspects included (callers that do not isolate suspects).

KEYS[1] pending  KEYS[2] active  KEYS[3] paused  KEYS[4] events  KEYS[5] stats
KEYS[6] wake (only checked: the workers BLPOP it between claims)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] max tasks
ARGV[4] lease ms  ARGV[5] worker id  ARGV[6] events MAXLEN
ARGV[7] suspects mode: '' (take them), 'alone', 'busy'  (optional)

Returns: the suspects passed over (0 in mode ''), then 10 values per claimed task: id,
attempt, name, args JSON, kwargs JSON, timeout s ('' = none), failures so far, max
retries, meta JSON, leases lost so far. Nothing
is claimed when the queue is paused or empty. An id whose record is missing is dropped
and counted as an orphan. When a key it would touch (the KEYS, the records of the ids
it would take) has the wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local pending, active, paused, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local wake = KEYS[6]  -- only checked (check_keys goes through every KEYS)
local base, now, max_tasks = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local lease_ms, worker_id, events_maxlen = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local suspects_mode = ARGV[7] or ''

local MAX_PASSED = 50  -- suspects looked past in one call (bounded work)
check_keys()
if #damage > 0 then return damaged() end
if rcall('EXISTS', paused) == 1 then return {0} end
local deadline = now + lease_ms
local ids, passed = {}, 0
if suspects_mode == '' then
  for _, id in ipairs(rcall('ZRANGE', pending, 0, max_tasks - 1)) do
    if check(base .. 'task:' .. id, 'hash') then ids[#ids + 1] = id end
  end
else
  -- read only as many ids as are still wanted (a queue without suspects costs one
  -- ZRANGE of `max_tasks`), and at most MAX_PASSED suspects beyond them
  local from, last, taken_alone = 0, max_tasks + MAX_PASSED - 1, false
  while #ids < max_tasks and from <= last and not taken_alone do
    local to = math.min(from + max_tasks - #ids - 1, last)
    local candidates = rcall('ZRANGE', pending, from, to)
    if #candidates == 0 then break end
    from = to + 1
    for _, id in ipairs(candidates) do
      local task_key = base .. 'task:' .. id
      if check(task_key, 'hash') then  -- a damaged record is returned below
        local lost = tonumber(rcall('HGET', task_key, 'lost')) or 0
        if lost <= 0 then
          ids[#ids + 1] = id
        elseif suspects_mode == 'alone' and #ids == 0 then
          ids[1] = id
          taken_alone = true
          break
        else
          passed = passed + 1
        end
      end
    end
  end
end
if #damage > 0 then return damaged() end
if #ids > 0 then rcall('ZREM', pending, unpack(ids)) end
local out, orphans = {passed}, 0
for _, id in ipairs(ids) do
  local task_key = base .. 'task:' .. id
  if rcall('EXISTS', task_key) == 0 then
    orphans = orphans + 1
  else
    local attempt = bump(task_key, 'attempts')
    rcall('HSET', task_key, 'status', 'processing', 'worker', worker_id, 'started_at', now,
          'heartbeat_at', now, 'lease_until', deadline,
          'h:' .. attempt, worker_id .. '|' .. now)
    rcall('ZADD', active, deadline, id)
    local f = rcall('HMGET', task_key, 'name', 'args', 'kwargs', 'timeout', 'failures',
                    'max_retries', 'meta', 'lost')
    out[#out + 1] = id
    out[#out + 1] = attempt
    for j = 1, 8 do out[#out + 1] = f[j] or '' end
    emit(events, events_maxlen, id, 'processing')
  end
end
if orphans > 0 then add(stats, 'orphans', orphans) end
return out
