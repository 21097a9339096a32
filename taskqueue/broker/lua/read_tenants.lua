--[[ read_tenants: the tenants with the largest backlogs in a queue (counted in base ..
'tenants', common.lua's count_tenant), for the API, the console and /metrics. Changes
nothing; a key of the wrong type reads as empty. Reads at most ARGV[3] tenants (the
largest of those are returned): the hash is bounded only by how many tenants there are.

KEYS[1] tenants

ARGV[1] base  ARGV[2] how many to return  ARGV[3] how many to read at most

Returns: {tenants counted (all of them), then tenant, backlog for the largest, largest
first}.
Errors: none.
]]
--- @include "common"

local tenants = KEYS[1]
local _base, top, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

if rcall('TYPE', tenants)['ok'] ~= 'hash' then return {0} end
local total = rcall('HLEN', tenants)
local found, cursor = {}, '0'
repeat
  local page = rcall('HSCAN', tenants, cursor, 'COUNT', 500)
  cursor = page[1]
  for i = 1, #page[2], 2 do
    found[#found + 1] = {page[2][i], whole(page[2][i + 1], 0)}
  end
until cursor == '0' or #found >= most
table.sort(found, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local out = {total}
for i = 1, math.min(top, #found) do
  out[#out + 1] = found[i][1]
  out[#out + 1] = found[i][2]
end
return out
