--[[ purge_pending: delete up to `limit` pending tasks (the caller loops until 0, so
a big queue never blocks Redis for long). Scheduled and running tasks are untouched.

KEYS[1] pending  KEYS[2] index  KEYS[3] events  KEYS[4] stats

ARGV[1] base  ARGV[2] limit  ARGV[3] events MAXLEN

Returns: the number of tasks deleted. When a key it would touch (the KEYS, the records
it would delete) has the wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local base = ARGV[1]
check_keys()
if #damage > 0 then return damaged() end
local ids = rcall('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
for _, id in ipairs(ids) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
for _, id in ipairs(ids) do
  rcall('ZREM', KEYS[1], id)
  rcall('DEL', base .. 'task:' .. id)
  rcall('ZREM', KEYS[2], id)
end
local n = #ids
if n > 0 then
  add(KEYS[4], 'purged', n)
  emit_queue(KEYS[3], ARGV[3], 'purged', n)
end
return n
