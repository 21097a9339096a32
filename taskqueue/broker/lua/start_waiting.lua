--[[ start_waiting: start workflow nodes whose parents all completed (waiting -> pending,
or scheduled when their own delay is not over). Exactly once: a task that is no longer
waiting (started already, cancelled, deleted) is left alone, so a release repeated
after a crash, or by two workers at once, starts nothing twice (docs/workflows.md).
Only the workflow that owns a task (record field 'workflow') starts it.

KEYS[1] waiting  KEYS[2] pending  KEYS[3] scheduled  KEYS[4] seq  KEYS[5] wake
KEYS[6] events   KEYS[7] timer

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] events MAXLEN
ARGV[4] wake bound  ARGV[5] band width (priority.BAND_WIDTH: the pending score)
ARGV[6] the workflow id asking
ARGV[7..] 2 values per task: id, its args JSON (its parents' results put in)

Returns: one value per task: 1 started now, 0 left alone (it was not waiting).
When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local waiting, pending, scheduled, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local wake, events, timer = KEYS[5], KEYS[6], KEYS[7]
local base, now, events_maxlen = ARGV[1], now_ms(ARGV[2]), ARGV[3]
local wake_bound = ARGV[4]
local band_width = tonumber(ARGV[5])
local workflow = ARGV[6]
local FIRST_TASK = 7  -- ARGV[7..]: 2 values per task

check_keys()
for i = FIRST_TASK, #ARGV, 2 do check(base .. 'task:' .. ARGV[i], 'hash') end
check(base .. 'fair', 'hash')
if #damage > 0 then return damaged() end
local out, ready, later = {}, 0, 0
for i = FIRST_TASK, #ARGV, 2 do
  local id, args = ARGV[i], ARGV[i + 1]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'run_at', 'band', 'workflow', 'tenant')
  if cur[1] == 'waiting' and cur[4] == workflow then
    rcall('ZREM', waiting, id)
    local task_seq = next_seq(base, seq, pending, band_width, cur[3], cur[5])
    rcall('HSET', task_key, 'args', args, 'seq', task_seq, 'waits', 0)
    local run_at = whole(cur[2], 0)
    if run_at > now then
      rcall('HSET', task_key, 'status', 'scheduled')
      rcall('ZADD', scheduled, run_at, id)
      later = later + 1
      emit(events, events_maxlen, id, 'scheduled')
    else
      rcall('HSET', task_key, 'status', 'pending', 'run_at', now)
      rcall('ZADD', pending, pending_score(cur[3], task_seq, band_width), id)
      ready = ready + 1
      emit(events, events_maxlen, id, 'pending')
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
wake_workers(wake, wake_bound, ready)
if later > 0 then arm_timer(timer) end
return out
