--[[ oldest_pending: the earliest ready time among pending tasks. Pending is ordered by
priority first, so the oldest task is the head of one of the priority bands: this
visits each band present once (at most 201 steps, each O(log n)). Read-only.

KEYS[1] pending

ARGV[1] base  ARGV[2] band width (priority.BAND_WIDTH: the pending score, common.lua)

Returns: the smallest run_at (epoch ms) of a pending task, or -1 when none is pending;
a record of the wrong type is skipped. When pending has the wrong type: the damage
(common.lua).
Errors: none.
]]
--- @include "common"

local pending = KEYS[1]
local base = ARGV[1]
local band_width = tonumber(ARGV[2])

local oldest, from = -1, '-inf'
check_keys()
if #damage > 0 then return damaged() end
for _ = 1, 201 do
  local head = rcall('ZRANGEBYSCORE', pending, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if not head[1] then break end
  local run_at = tonumber(hash_field(base .. 'task:' .. head[1], 'run_at'))
  if run_at and (oldest < 0 or run_at < oldest) then oldest = run_at end
  local band = math.floor(tonumber(head[2]) / band_width)
  from = string.format('%.0f', (band + 1) * band_width)
end
return oldest
