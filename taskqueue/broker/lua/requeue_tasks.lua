--[[ requeue_tasks: send dead or cancelled tasks back to pending (retry from the DLQ),
of those statuses the caller allows (a DLQ requeue: dead only).
A workflow's task that never started (cancelled while it waited for its parents:
record field waits = 1) goes back to waiting instead; its workflow starts it once its
parents have completed.
They go to the back of their priority with fresh retries: failures, lost leases and
the cancel request are reset; the attempt number keeps counting, so fencing holds.
A task in any other status is left alone (so requeueing twice makes one task).

KEYS[1] pending  KEYS[2] dead  KEYS[3] cancelled  KEYS[4] seq  KEYS[5] errors
KEYS[6] events  KEYS[7] wake  KEYS[8] stats

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] events MAXLEN
ARGV[4] wake bound  ARGV[5] band width (priority.BAND_WIDTH: the pending score, common.lua)
ARGV[6] the statuses that may be requeued, comma-separated (of dead, cancelled)
ARGV[7..] task ids

Returns: one value per id: its status before (an allowed one, dead or cancelled, was
requeued; anything else, or 'missing', was left alone). When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local pending, dead, cancelled, seq, errors = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local events, wake, stats = KEYS[6], KEYS[7], KEYS[8]
local base, now, events_maxlen = ARGV[1], now_ms(ARGV[2]), ARGV[3]
local wake_bound = ARGV[4]
local band_width = tonumber(ARGV[5])
local allowed = ARGV[6]
local FIRST_ID = 7  -- ARGV[7..]: task ids

local requeued = {}
for status in string.gmatch(allowed, '[a-z]+') do
  if status == 'dead' or status == 'cancelled' then requeued[status] = true end
end
check_keys()
for i = FIRST_ID, #ARGV do check(base .. 'task:' .. ARGV[i], 'hash') end
check_shared(base)
check(base .. 'waiting', 'zset')
check(base .. 'fair', 'hash')
if #damage > 0 then return damaged() end
local out, moved = {}, 0
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'error_type', 'waits')
  local status = cur[1] or 'missing'
  if requeued[status] then
    if status == 'dead' then
      rcall('ZREM', dead, id)
      uncount_error(errors, cur[2])
    else
      rcall('ZREM', cancelled, id)
    end
    rcall('PERSIST', task_key)
    local f = rcall('HMGET', task_key, 'band', 'tenant')
    rcall('HSET', task_key, 'seq', next_seq(base, seq, pending, band_width, f[1], f[2]), 'failures', 0, 'lost', 0,
          'cancel_requested', 0, 'run_at', now, 'finished_at', '', 'dead_reason', '')
    if cur[3] == '1' then
      rcall('HSET', task_key, 'status', 'waiting')
      rcall('ZADD', base .. 'waiting', now, id)
      emit(events, events_maxlen, id, 'waiting')
      notify(base, task_key, id, 'waiting')
      count_tenant(base, task_key, 'waiting')
    else
      to_pending(pending, task_key, id, band_width)
      emit(events, events_maxlen, id, 'pending')
      notify(base, task_key, id, 'requeued')
      count_tenant(base, task_key, 'pending')
      moved = moved + 1
    end
  end
  out[#out + 1] = status
end
if moved > 0 then add(stats, 'requeued', moved) end
wake_workers(wake, wake_bound, moved)
return out
