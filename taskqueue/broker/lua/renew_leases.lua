--[[ renew_leases: extend the leases of running tasks (the worker's heartbeat), fenced
by attempt. The answer also carries cancel requests, so a running task hears of a
cancel when its worker next renews (at once when the cancel woke it) without pub/sub.
Progress that changed is written and announced on the events stream, so the console
shows it at its next push.

KEYS[1] active  KEYS[2] events

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] lease ms (0 = expire now)
ARGV[4] events MAXLEN
ARGV[5..] 3 values per task: id, attempt, progress JSON ('' = unchanged)

Returns: one value per task: 1 renewed, 2 renewed and a cancel was requested,
0 lost (the task is no longer this attempt's: stop reporting on it).
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"

local active, events = KEYS[1], KEYS[2]
local base, now, lease_ms = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local events_maxlen = ARGV[4]
local FIRST_TASK = 5  -- ARGV[5..]: 3 values per task

local deadline = now + lease_ms
check_keys()
for i = FIRST_TASK, #ARGV, 3 do check(base .. 'task:' .. ARGV[i], 'hash') end
if #damage > 0 then return damaged() end
local out = {}
for i = FIRST_TASK, #ARGV, 3 do
  local id, attempt, progress = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'attempts', 'cancel_requested')
  if cur[1] == 'processing' and cur[2] == attempt and rcall('ZSCORE', active, id) then
    rcall('ZADD', active, deadline, id)
    rcall('HSET', task_key, 'lease_until', deadline, 'heartbeat_at', now)
    if progress ~= '' and progress ~= rcall('HGET', task_key, 'progress') then
      rcall('HSET', task_key, 'progress', progress)
      emit(events, events_maxlen, id, 'processing')
    end
    out[#out + 1] = (cur[3] == '1') and 2 or 1
  else
    out[#out + 1] = 0
  end
end
return out
