--[[ set_paused: pause a queue (claims return nothing) or resume it (and wake workers).

KEYS[1] paused  KEYS[2] events  KEYS[3] wake  KEYS[4] pending

ARGV[1] base  ARGV[2] '1' pause, '0' resume  ARGV[3] events MAXLEN  ARGV[4] wake bound

Returns: 1 if the queue was paused before, 0 if not. When one of the KEYS has the
wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

check_keys()
if #damage > 0 then return damaged() end
local was = rcall('EXISTS', KEYS[1])
if ARGV[2] == '1' then
  rcall('SET', KEYS[1], 1)
  emit_queue(KEYS[2], ARGV[3], 'paused', 0)
else
  rcall('DEL', KEYS[1])
  emit_queue(KEYS[2], ARGV[3], 'resumed', 0)
  wake(KEYS[3], ARGV[4], rcall('ZCARD', KEYS[4]))
end
return was
