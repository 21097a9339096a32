--[[ declare_limits: write the limits a worker's code and settings declare for a queue
(includes/limits.lua). Only the fields named change, so workers serving one queue
with different tasks do not erase each other's; '' removes a field (its task no
longer has that limit).

KEYS[1] limits

ARGV[1] base  ARGV[2..] pairs: field ('rate:<scope>' or 'conc:<scope>'), value

Returns: the number of fields whose value changed. When KEYS[1] has the wrong type:
the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local limits = KEYS[1]
local _base = ARGV[1]  -- every script's first argument; unused here
local FIRST_FIELD = 2

check_keys()
if #damage > 0 then return damaged() end
local changed = 0
for i = FIRST_FIELD, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  if (rcall('HGET', limits, field) or '') ~= value then
    changed = changed + 1
    if value == '' then rcall('HDEL', limits, field) else rcall('HSET', limits, field, value) end
  end
end
return changed
