--[[ release_tasks: a stopping worker returns tasks it will not finish to pending, at
their original place in line. Not a failed attempt: `failures` is unchanged. Fenced.

KEYS[1] active  KEYS[2] pending  KEYS[3] events  KEYS[4] wake

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] events MAXLEN
ARGV[4] wake bound  ARGV[5] band width (priority.BAND_WIDTH: the pending score, common.lua)
ARGV[6..] 2 values per task: id, attempt

Returns: one value per task: 1 released, 0 refused (stale attempt).
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"

local active, pending, events, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local base, now, events_maxlen = ARGV[1], now_ms(ARGV[2]), ARGV[3]
local wake_bound = ARGV[4]
local band_width = tonumber(ARGV[5])
local FIRST_TASK = 6  -- ARGV[6..]: 2 values per task

check_keys()
for i = FIRST_TASK, #ARGV, 2 do check(base .. 'task:' .. ARGV[i], 'hash') end
if #damage > 0 then return damaged() end
local out, released = {}, 0
for i = FIRST_TASK, #ARGV, 2 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'attempts')
  if cur[1] == 'processing' and cur[2] == attempt then
    rcall('ZREM', active, id)
    close_attempt(task_key, attempt, now, 'released')
    to_pending(pending, task_key, id, band_width)
    emit(events, events_maxlen, id, 'pending')
    released = released + 1
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
wake_workers(wake, wake_bound, released)
return out
