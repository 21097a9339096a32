--[[ purge_pending: delete up to `limit` pending tasks (the caller loops until 0, so
a big queue never blocks Redis for long). Scheduled and running tasks are untouched.

KEYS[1] pending  KEYS[2] index  KEYS[3] events  KEYS[4] stats

ARGV[1] base  ARGV[2] limit  ARGV[3] events MAXLEN

Returns: the number of tasks deleted. When a key it would touch (the KEYS, the records
it would delete) has the wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local pending, index, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local base, limit, events_maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]

check_keys()
check_shared(base)
if #damage > 0 then return damaged() end
local ids = rcall('ZRANGE', pending, 0, limit - 1)
for _, id in ipairs(ids) do check(base .. 'task:' .. id, 'hash') end
if #damage > 0 then return damaged() end
for _, id in ipairs(ids) do
  rcall('ZREM', pending, id)
  count_tenant(base, base .. 'task:' .. id, 'deleted')
  rcall('DEL', base .. 'task:' .. id)
  rcall('ZREM', index, id)
end
local n = #ids
if n > 0 then
  add(stats, 'purged', n)
  emit_queue(events, events_maxlen, 'purged', n)
end
return n
