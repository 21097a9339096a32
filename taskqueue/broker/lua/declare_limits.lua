--[[ declare_limits: write the limits a worker's code and settings declare for a queue
(includes/limits.lua). Only the fields named change, so workers serving one queue
with different tasks do not erase each other's; '' removes a field (its task no
longer has that limit). The tasks held back for a scope whose limit changed go back
to their places in line (at most ARGV[4] per scope), as with set_limit.

KEYS[1] limits  KEYS[2] pending  KEYS[3] scheduled  KEYS[4] events  KEYS[5] gcra

ARGV[1] base  ARGV[2] events MAXLEN
ARGV[3] band width (priority.BAND_WIDTH: where a held task goes back in line)
ARGV[4] at most this many held tasks of one scope go back
ARGV[5..] pairs: field ('rate:<scope>' or 'conc:<scope>'), value

Returns: the number of fields whose value changed. When a key it would touch has the
wrong type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "limits"

local limits, pending, scheduled, events, gcra = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, events_maxlen = ARGV[1], ARGV[2]
local band_width = tonumber(ARGV[3])
local bound = tonumber(ARGV[4])
local FIRST_FIELD = 5

check_keys()
local changed = {}
for i = FIRST_FIELD, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local scope = string.match(field, '^%a+:(.+)$')
  if scope then
    if (hash_field(limits, field) or '') ~= value then
      changed[#changed + 1] = {field, value, scope}
      check(base .. 'held:' .. scope, 'zset')
    end
  end
end
if #damage > 0 then return damaged() end
for _, c in ipairs(changed) do
  if c[2] == '' then rcall('HDEL', limits, c[1]) else rcall('HSET', limits, c[1], c[2]) end
end
for _, c in ipairs(changed) do
  rcall('HDEL', gcra, 'hz:' .. c[3])
  unhold(base, pending, c[3], bound, band_width, events, events_maxlen)
end
return #changed
