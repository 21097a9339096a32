--[[ trim_expired: delete finished tasks past their retention, for queues where nothing
finishes any more (completing, cancelling and dead-lettering trim as they go, but an
idle queue would keep its last records, and their ids in the finished sets, until the
records' safety-net EXPIRE, a day after DEAD_TTL). Completed and cancelled records older
than RESULT_TTL and dead letters older than DEAD_TTL or beyond DEAD_MAX; at most `limit`
of each kind a call.

KEYS[1] completed  KEYS[2] cancelled  KEYS[3] dead  KEYS[4] errors  KEYS[5] index
KEYS[6] stats

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s  ARGV[4] dead TTL s
ARGV[5] dead max  ARGV[6] limit (at most 100: the helpers' batch)

Returns: {completed trimmed, cancelled trimmed, dead trimmed}. When a key it would touch
(the KEYS, the records it would delete) has the wrong type: the damage, and nothing
changed (common.lua). The trims done as tasks finish leave such records in place for
this script to meet.
Errors: none.
]]
--- @include "common"

local base, now = ARGV[1], now_ms(ARGV[2])
local cutoff, dead_ttl = now - tonumber(ARGV[3]) * 1000, tonumber(ARGV[4])
check_keys()
if #damage > 0 then return damaged() end
local due = {finished_due(KEYS[1], cutoff), finished_due(KEYS[2], cutoff),
             dead_due(KEYS[3], now, dead_ttl, ARGV[5])}
for _, ids in ipairs(due) do
  for _, id in ipairs(ids) do check(base .. 'task:' .. id, 'hash') end
end
if #damage > 0 then return damaged() end
local done = trim_ids(base, KEYS[1], KEYS[5], due[1])
local cancelled = trim_ids(base, KEYS[2], KEYS[5], due[2])
local dead = trim_ids(base, KEYS[3], KEYS[5], due[3], KEYS[4])
if dead > 0 then add(KEYS[6], 'dead_trimmed', dead) end
return {done, cancelled, dead}
