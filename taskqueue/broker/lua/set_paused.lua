--[[ set_paused: pause a queue (claims return nothing) or resume it (and wake workers).

KEYS[1] paused  KEYS[2] events  KEYS[3] wake  KEYS[4] pending

ARGV[1] base  ARGV[2] pause: '1' pause, '0' resume  ARGV[3] events MAXLEN
ARGV[4] wake bound

Returns: 1 if the queue was paused before, 0 if not. When one of the KEYS has the
wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local paused, events, wake, pending = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local base, pause, events_maxlen, wake_bound = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

check_keys()
if #damage > 0 then return damaged() end
local was = rcall('EXISTS', paused)
if pause == '1' then
  rcall('SET', paused, 1)
  emit_queue(events, events_maxlen, 'paused', 0)
else
  rcall('DEL', paused)
  emit_queue(events, events_maxlen, 'resumed', 0)
  wake_workers(wake, wake_bound, rcall('ZCARD', pending))
end
return was
