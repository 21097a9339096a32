--[[ record_runtimes: add a worker's runtime histogram increments to a queue's runtime
hash (workers keep them in memory and flush them with the heartbeat: see
worker/heartbeat.py, runtime.py), and to the queue's runtime histograms of this minute
and this hour (the history: common.lua's tally, kept 2 h and 8 days; an attempt counts
in the minute its worker flushed it, a heartbeat after it ended at most). A field
holding something else than a whole number restarts from 0.

KEYS[1] runtime

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)
ARGV[3..] 2 values per increment: field ('<task name>|<part>'), amount

Returns: the number of fields incremented. When runtime has the wrong type: the damage,
and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local runtime = KEYS[1]
local base, now = ARGV[1], now_ms(ARGV[2])
local FIRST_INCREMENT = 3  -- ARGV[3..]: 2 values per increment

check_keys()
if #damage > 0 then return damaged() end
local minute = base .. 'rt:m:' .. minute_of(now)
local hour = base .. 'rt:h:' .. hour_of(now)
for i = FIRST_INCREMENT, #ARGV, 2 do
  local field, amount = ARGV[i], ARGV[i + 1]
  add(runtime, field, amount)
  local n = tonumber(amount)
  if n then
    tally(minute, field, n, MINUTE_TTL)
    tally(hour, field, n, HOUR_TTL)
  end
end
return math.floor((#ARGV - FIRST_INCREMENT + 1) / 2)
