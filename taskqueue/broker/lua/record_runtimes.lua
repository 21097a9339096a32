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

check_keys()
if #damage > 0 then return damaged() end
for i = 2, #ARGV, 2 do add(KEYS[1], ARGV[i], ARGV[i + 1]) end
return math.floor((#ARGV - 1) / 2)
