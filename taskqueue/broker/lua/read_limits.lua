--[[ read_limits: a queue's limits and what they hold back right now, for the API, the
console and `tq limits` (includes/limits.lua). Changes nothing; a key of the wrong
type reads as empty.

KEYS[1] limits  KEYS[2] limitset  KEYS[3] gcra  KEYS[4] active

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)

Returns: {declared fields (flat), operator fields (flat), then per scope named in
either: scope, tasks held back, live holders of a slot, and how far its rate's
schedule runs ahead of now in ms (tat - now, 0 when idle: throttled while above
(burst - 1) * period / count)}.
Errors: none.
]]
--- @include "common"

local limits, limitset, gcra, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local base, now = ARGV[1], now_ms(ARGV[2])

local function typed(key, kind, command, ...)
  if rcall('TYPE', key)['ok'] ~= kind then return nil end
  return rcall(command, key, ...)
end

local declared = typed(limits, 'hash', 'HGETALL') or {}
local set = typed(limitset, 'hash', 'HGETALL') or {}
local scopes, out = {}, {declared, set}
for _, flat in ipairs({declared, set}) do
  for i = 1, #flat, 2 do
    local scope = string.match(flat[i], '^%a+:(.+)$')
    if scope then scopes[scope] = true end
  end
end
for scope in pairs(scopes) do
  local held = typed(base .. 'held:' .. scope, 'zset', 'ZCARD') or 0
  local live = 0
  for _, id in ipairs(typed(base .. 'slots:' .. scope, 'zset', 'ZRANGE', 0, -1) or {}) do
    local deadline = rcall('TYPE', active)['ok'] == 'zset' and tonumber(rcall('ZSCORE', active, id))
    if deadline and deadline >= now then live = live + 1 end
  end
  local tat = tonumber(typed(gcra, 'hash', 'HGET', 'tat:' .. scope)) or 0
  if tat ~= tat or tat == math.huge or tat == -math.huge then tat = 0 end
  out[#out + 1] = scope
  out[#out + 1] = held
  out[#out + 1] = live
  out[#out + 1] = math.max(0, math.ceil(tat - now))
end
return out
