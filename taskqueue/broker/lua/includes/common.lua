--[[ common: helpers shared by the scripts (inlined where a script says @include).

Conventions: ARGV[1] of every script is the queue's key base '<prefix>:{q}:', and
per-task keys are base .. 'task:' .. id (see keys.py). Times are epoch milliseconds.
]]
local rcall = redis.call

-- Now in ms: the caller's value when it passes one (tests), else Redis's own clock.
local function now_ms(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A whole number from a record field in 0..2^53, or `default` when the field is
-- missing or malformed: Redis contents are not trusted, and a script that raised an
-- error half-way would keep what it had done so far (no rollback): a lost task.
local function whole(value, default)
  local n = tonumber(value)
  if n == nil or n ~= n or n < 0 or n > 9007199254740992 or n ~= math.floor(n) then
    return default
  end
  return n
end

-- Add one to a counter field of a task record (attempts, failures, lost); a malformed
-- value counts as 0. Returns the new value.
local function bump(task_key, field)
  local n = whole(rcall('HGET', task_key, field), 0) + 1
  rcall('HSET', task_key, field, n)
  return n
end

-- Pending score = band * 2^45 + seq (priority.py). Formatted exactly: Lua's own
-- number-to-string conversion keeps 14 digits and would break FIFO. A malformed band
-- or seq (from a record) takes the default band 100 or seq 0.
local function pending_score(band, seq)
  band = whole(band, 100)
  if band > 200 then band = 100 end
  seq = whole(seq, 0) % 35184372088832
  return string.format('%.0f', band * 35184372088832 + seq)
end

local function emit(events_key, maxlen, id, status)
  rcall('XADD', events_key, 'MAXLEN', '~', maxlen, '*', 'id', id, 'status', status)
end

local function emit_queue(events_key, maxlen, event, count)
  rcall('XADD', events_key, 'MAXLEN', '~', maxlen, '*', 'event', event, 'count', count)
end

-- Push up to n wake-up tokens, keeping the list at most `bound` long.
local function wake(wake_key, bound, n)
  local room = math.min(n, tonumber(bound) - rcall('LLEN', wake_key))
  for _ = 1, room do rcall('LPUSH', wake_key, '1') end
end

-- Tell sleeping schedulers that the scheduled set changed (one token is enough).
local function arm_timer(timer_key)
  if rcall('LLEN', timer_key) == 0 then rcall('LPUSH', timer_key, '1') end
end

-- Close the history entry 'h:<attempt>' = 'worker|started' with '|ended|outcome'.
local function close_attempt(task_key, attempt, now, outcome)
  local field = 'h:' .. attempt
  local entry = rcall('HGET', task_key, field)
  if entry then rcall('HSET', task_key, field, entry .. '|' .. now .. '|' .. outcome) end
end

local function count_minute(base, now, field, n)
  if n == 0 then return end
  local key = base .. 'm:' .. math.floor(now / 60000)
  rcall('HINCRBY', key, field, n)
  rcall('EXPIRE', key, 7200)
end

-- Put a task back in pending at its original FIFO place (its stored band and seq).
local function to_pending(pending_key, task_key, id)
  local pos = rcall('HMGET', task_key, 'band', 'seq')
  rcall('ZADD', pending_key, pending_score(pos[1], pos[2]), id)
  rcall('HSET', task_key, 'status', 'pending', 'worker', '', 'lease_until', '')
end

-- Delete records of finished tasks older than cutoff from a finished set (bounded).
local function trim_finished(base, set_key, index_key, cutoff)
  local ids = rcall('ZRANGEBYSCORE', set_key, '-inf', cutoff, 'LIMIT', 0, 100)
  for _, id in ipairs(ids) do
    rcall('DEL', base .. 'task:' .. id)
    rcall('ZREM', set_key, id)
    rcall('ZREM', index_key, id)
  end
  return #ids
end

local function uncount_error(errors_key, error_type)
  if error_type and rcall('HINCRBY', errors_key, error_type, -1) <= 0 then
    rcall('HDEL', errors_key, error_type)
  end
end

-- Drop dead letters past their TTL, then the oldest beyond `max` (at most 100 a call).
local function trim_dead(base, dead_key, errors_key, index_key, stats_key, now, ttl_s, max)
  local ids = rcall('ZRANGEBYSCORE', dead_key, '-inf', now - ttl_s * 1000, 'LIMIT', 0, 100)
  local excess = rcall('ZCARD', dead_key) - tonumber(max)
  if excess > #ids then ids = rcall('ZRANGE', dead_key, 0, math.min(excess, 100) - 1) end
  for _, id in ipairs(ids) do
    local task_key = base .. 'task:' .. id
    uncount_error(errors_key, rcall('HGET', task_key, 'error_type'))
    rcall('DEL', task_key)
    rcall('ZREM', dead_key, id)
    rcall('ZREM', index_key, id)
  end
  if #ids > 0 then rcall('HINCRBY', stats_key, 'dead_trimmed', #ids) end
end

-- Move a task (already out of its set) into the dead-letter queue.
local function bury(dead_key, errors_key, task_key, id, now, ttl_s, error_type, reason)
  rcall('HSET', task_key, 'status', 'dead', 'finished_at', now, 'lease_until', '',
        'dead_reason', reason)
  rcall('ZADD', dead_key, now, id)
  rcall('HINCRBY', errors_key, error_type, 1)
  -- A safety net only: trim_dead deletes the record first, keeping `errors` exact.
  rcall('EXPIRE', task_key, ttl_s + 86400)
end
