--[[ set_limit: an operator's limit for one scope of a queue, effective at once
(includes/limits.lua). It wins over the declared one; clearing it brings the declared
one back. The tasks held back for that scope go back to their places in line, where
the next claims hold back again whatever the new limit still holds back, and the
workers are woken.

KEYS[1] limitset  KEYS[2] pending  KEYS[3] scheduled  KEYS[4] events  KEYS[5] wake
KEYS[6] gcra

ARGV[1] base  ARGV[2] scope ('queue' or 'task:<name>')
ARGV[3] rate: '<count>/<period ms>/<burst>', '' (no rate limit), '-' (the declared one)
ARGV[4] concurrency: '<n>', '' (no concurrency limit), '-' (the declared one)
ARGV[5] events MAXLEN  ARGV[6] wake bound
ARGV[7] band width (priority.BAND_WIDTH: where a held task goes back in line)
ARGV[8] at most this many held tasks go back in this call

Returns: the number of held tasks that went back in line; the caller calls again
(with the same values) while that equals ARGV[8]. When a key it would touch has the
wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "limits"

local limitset, pending, scheduled, events, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local gcra = KEYS[6]
local base, scope, rate, conc, events_maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local wake_bound = ARGV[6]
local band_width = tonumber(ARGV[7])
local bound = tonumber(ARGV[8])

check_keys()
check(base .. 'held:' .. scope, 'zset')
if #damage > 0 then return damaged() end
for kind, value in pairs({rate = rate, conc = conc}) do
  local field = kind .. ':' .. scope
  if value == '-' then rcall('HDEL', limitset, field) else rcall('HSET', limitset, field, value) end
end
rcall('HDEL', gcra, 'hz:' .. scope)  -- the line of held tasks is gone
local moved = unhold(base, pending, scope, bound, band_width, events, events_maxlen)
emit_queue(events, events_maxlen, 'limits', moved)
wake_workers(wake, wake_bound, math.max(1, moved))
return moved
