--[[ record_runtimes: add a worker's runtime histogram increments to a queue's runtime
hash (workers keep them in memory and flush them with the heartbeat: see
worker/heartbeat.py, runtime.py). A field holding something else than a whole number
restarts from 0.

KEYS[1] runtime

ARGV[1] base  ARGV[2..] 2 values per increment: field ('<task name>|<part>'), amount

Returns: the number of fields incremented. When runtime has the wrong type: the damage,
and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local runtime = KEYS[1]
local base = ARGV[1]  -- not used: every script is passed its queue's base
local FIRST_INCREMENT = 2  -- ARGV[2..]: 2 values per increment

check_keys()
if #damage > 0 then return damaged() end
for i = FIRST_INCREMENT, #ARGV, 2 do add(runtime, ARGV[i], ARGV[i + 1]) end
return math.floor((#ARGV - FIRST_INCREMENT + 1) / 2)
