--[[ promote_scheduled: move due scheduled tasks (delays, retry backoff) to pending.
Bounded; safe for any number of workers to run at once.

KEYS[1] scheduled  KEYS[2] pending  KEYS[3] seq  KEYS[4] wake  KEYS[5] events
KEYS[6] timer (only checked: maintenance BLPOPs it between sweeps)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] limit  ARGV[4] wake bound
ARGV[5] events MAXLEN

Returns: {promoted, next due ms (-1 when nothing is scheduled), now ms}. When a key it
would touch (the KEYS, the records of the due tasks) has the wrong type: the damage,
and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local base, now = ARGV[1], now_ms(ARGV[2])
check_keys()
if #damage > 0 then return damaged() end
local due = rcall('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
for _, id in ipairs(due) do
  local task_key = base .. 'task:' .. id
  rcall('ZREM', KEYS[1], id)
  if rcall('EXISTS', task_key) == 1 then
    local seq = rcall('INCR', KEYS[3])
    rcall('HSET', task_key, 'seq', seq)
    to_pending(KEYS[2], task_key, id)
    emit(KEYS[5], ARGV[5], id, 'pending')
  end
end
wake(KEYS[4], ARGV[4], #due)
local first = rcall('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_due = -1
if first[2] then next_due = tonumber(first[2]) end
return {#due, next_due, now}
