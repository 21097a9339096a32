--[[ purge_pending: delete up to `limit` pending tasks (the caller loops until 0, so
a big queue never blocks Redis for long). Scheduled and running tasks are untouched.

KEYS[1] pending  KEYS[2] index  KEYS[3] events  KEYS[4] stats

ARGV[1] base  ARGV[2] limit  ARGV[3] events MAXLEN

Returns: the number of tasks deleted.
Errors: none.
]]
--- @include "common"

local base = ARGV[1]
local popped = rcall('ZPOPMIN', KEYS[1], ARGV[2])
for i = 1, #popped, 2 do
  rcall('DEL', base .. 'task:' .. popped[i])
  rcall('ZREM', KEYS[2], popped[i])
end
local n = #popped / 2
if n > 0 then
  rcall('HINCRBY', KEYS[4], 'purged', n)
  emit_queue(KEYS[3], ARGV[3], 'purged', n)
end
return n
