--[[ claimable: whether a claim could take a task from the queue now, read-only. A
worker that claims from several queues asks this of the rest in the round trip of its
first claim, and sends claims only where the answer is 1 (worker/claiming.py): one
round trip, not one per queue, when most of them are empty. A claim may take a task
when the queue's pending set exists, or when a line of tasks held back by a limit
exists (held:<scope>, outside pending: the claim takes them from a rate's line, or
puts them back in line when a concurrency slot is free). A paused queue answers like
any other: its claim takes nothing.

KEYS[1] pending  KEYS[2] limits  KEYS[3] limitset (includes/limits.lua)

ARGV[1] base

Returns: 1 (a claim may take a task) or 0 (it would take none). A key of the wrong
type counts as there: the claim moves it aside (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "limits"

local pending, limits_declared, limits_set = KEYS[1], KEYS[2], KEYS[3]
local base = ARGV[1]

if rcall('EXISTS', pending) == 1 then return 1 end
for _, key in ipairs({limits_declared, limits_set}) do
  if rcall('TYPE', key).ok ~= 'hash' and rcall('EXISTS', key) == 1 then return 1 end
end
local limits = load_limits(limits_declared, limits_set)
if not limits then return 0 end
for _, scopes in ipairs({limits.rates, limits.concs}) do
  for scope in pairs(scopes) do
    if rcall('EXISTS', base .. 'held:' .. scope) == 1 then return 1 end
  end
end
return 0
