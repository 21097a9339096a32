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

local completed, cancelled, dead = KEYS[1], KEYS[2], KEYS[3]
local errors, index, stats = KEYS[4], KEYS[5], KEYS[6]
local base, now, result_ttl = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local dead_ttl, dead_max = tonumber(ARGV[4]), ARGV[5]
local limit = ARGV[6]  -- not read: the helpers' batch is 100, and so is what is passed

local cutoff = now - result_ttl * 1000
check_keys()
check_shared(base)
if #damage > 0 then return damaged() end
local due = {finished_due(completed, cutoff), finished_due(cancelled, cutoff),
             dead_due(dead, now, dead_ttl, dead_max)}
for _, ids in ipairs(due) do
  for _, id in ipairs(ids) do check(base .. 'task:' .. id, 'hash') end
end
if #damage > 0 then return damaged() end
local completed_n = trim_ids(base, completed, index, due[1])
local cancelled_n = trim_ids(base, cancelled, index, due[2])
local dead_n = trim_ids(base, dead, index, due[3], errors)
if dead_n > 0 then add(stats, 'dead_trimmed', dead_n) end
return {completed_n, cancelled_n, dead_n}
