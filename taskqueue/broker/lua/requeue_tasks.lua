--[[ requeue_tasks: send dead or cancelled tasks back to pending (retry from the DLQ).
They go to the back of their priority with fresh retries: failures, lost leases and
the cancel request are reset; the attempt number keeps counting, so fencing holds.
A task in any other status is left alone (so requeueing twice makes one task).

KEYS[1] pending  KEYS[2] dead  KEYS[3] cancelled  KEYS[4] seq  KEYS[5] errors
KEYS[6] events  KEYS[7] wake  KEYS[8] stats

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] events MAXLEN
ARGV[4] wake bound  ARGV[5..] task ids

Returns: one value per id: its status before ('dead' and 'cancelled' were requeued;
anything else, or 'missing', was left alone). When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local base, now = ARGV[1], now_ms(ARGV[2])
check_keys()
for i = 5, #ARGV do check(base .. 'task:' .. ARGV[i], 'hash') end
if #damage > 0 then return damaged() end
local out, moved = {}, 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'error_type')
  local status = cur[1] or 'missing'
  if status == 'dead' or status == 'cancelled' then
    if status == 'dead' then
      rcall('ZREM', KEYS[2], id)
      uncount_error(KEYS[5], cur[2])
    else
      rcall('ZREM', KEYS[3], id)
    end
    rcall('PERSIST', task_key)
    rcall('HSET', task_key, 'seq', rcall('INCR', KEYS[4]), 'failures', 0, 'lost', 0,
          'cancel_requested', 0, 'run_at', now, 'finished_at', '', 'dead_reason', '')
    to_pending(KEYS[1], task_key, id)
    emit(KEYS[6], ARGV[3], id, 'pending')
    moved = moved + 1
  end
  out[#out + 1] = status
end
if moved > 0 then add(KEYS[8], 'requeued', moved) end
wake(KEYS[7], ARGV[4], moved)
return out
