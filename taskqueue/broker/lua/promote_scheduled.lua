--[[ promote_scheduled: move due scheduled tasks (delays, retry backoff) to pending.
Bounded; safe for any number of workers to run at once. A task that a limit held back
(record field 'held', includes/limits.lua) goes back to its old place in line; the
field stays, so the claim knows it already waited its turn. Except a task held back by
a rate that still applies: the claims take those straight from their line, in order,
so it stays there (due again HELD_RECHECK_MS later, a safety net).

KEYS[1] scheduled  KEYS[2] pending  KEYS[3] seq  KEYS[4] wake  KEYS[5] events
KEYS[6] timer (only checked: maintenance BLPOPs it between sweeps)
KEYS[7] limits  KEYS[8] limitset (the limits' configuration, includes/limits.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] limit  ARGV[4] wake bound
ARGV[5] events MAXLEN
ARGV[6] band width (priority.BAND_WIDTH: the pending score, common.lua)

Returns: {promoted, next due ms (-1 when nothing is scheduled), now ms}. When a key it
would touch (the KEYS, the records of the due tasks) has the wrong type: the damage,
and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "limits"

local scheduled, pending, seq, wake, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local timer = KEYS[6]  -- only checked (check_keys goes through every KEYS)
local limits_declared, limits_set = KEYS[7], KEYS[8]
local base, now, limit, wake_bound = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local events_maxlen = ARGV[5]
local band_width = tonumber(ARGV[6])

check_keys()
if #damage > 0 then return damaged() end
local due = rcall('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit)
local held = {}  -- id -> the limit it was held back by (includes/limits.lua)
for _, id in ipairs(due) do
  if check(base .. 'task:' .. id, 'hash') then
    local scope = rcall('HGET', base .. 'task:' .. id, 'held')
    -- a mark left from an earlier hold (its limit since removed) is not a hold
    if scope and scope ~= '' and check(base .. 'held:' .. scope, 'zset')
       and rcall('ZSCORE', base .. 'held:' .. scope, id) then
      held[id] = scope
    end
  end
end
check(base .. 'fair', 'hash')
if #damage > 0 then return damaged() end
local limits = load_limits(limits_declared, limits_set)
local rates = limits and limits.rates or {}
local promoted = 0
for _, id in ipairs(due) do
  local task_key = base .. 'task:' .. id
  if held[id] and rates[held[id]] and rcall('HGET', task_key, 'held_by') == 'rate' then
    rcall('ZADD', scheduled, now + HELD_RECHECK_MS, id)  -- still in its line
  elseif rcall('EXISTS', task_key) == 0 then
    rcall('ZREM', scheduled, id)
  else
    rcall('ZREM', scheduled, id)
    promoted = promoted + 1
    if held[id] then  -- back at its old place in line, still marked as held
      rcall('ZREM', base .. 'held:' .. held[id], id)
    else
      local f = rcall('HMGET', task_key, 'band', 'tenant')
      rcall('HSET', task_key, 'seq', next_seq(base, seq, pending, band_width, f[1], f[2]))
    end
    to_pending(pending, task_key, id, band_width)
    emit(events, events_maxlen, id, 'pending')
  end
end
wake_workers(wake, wake_bound, promoted)
local first = rcall('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local next_due = -1
if first[2] then next_due = tonumber(first[2]) end
return {promoted, next_due, now}
