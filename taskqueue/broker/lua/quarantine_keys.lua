--[[ quarantine_keys: move keys of the wrong type out of a queue's way (the damage a
script reported instead of running: see common.lua), so the queue goes on and nothing
is lost: each key is renamed to '<base>quarantine:<its suffix>' (with ':<now>' added
when that name is taken) and kept for the quarantine TTL, counted in stats
'quarantined' and announced on the event stream. A key that has since been fixed or
deleted is left alone. A seq counter moved aside restarts at Redis's clock in ms, above
any sequence number a queue reaches, so the tasks enqueued next still line up behind
the ones already pending (FIFO).

KEYS[1] stats  KEYS[2] events  KEYS[3..] the keys to move (all of this queue)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] events MAXLEN
ARGV[4] quarantine TTL s  ARGV[5..] per key in KEYS[3..]: the type it must have
('integer': a string holding a whole number)

Returns: 3 values per key moved: the key, the type it had, the key it was moved to.
Errors: 'TQ_FOREIGN_KEY <key>' (a key outside this queue; nothing moved).
]]
--- @include "common"

local stats, events = KEYS[1], KEYS[2]
local FIRST_KEY = 3  -- KEYS[3..]: the keys to move
local base, now, events_maxlen = ARGV[1], now_ms(ARGV[2]), ARGV[3]
local quarantine_ttl = tonumber(ARGV[4])
local FIRST_TYPE = 5  -- ARGV[5..]: the type each of them must have
local keys_to_move = {}
for i = FIRST_KEY, #KEYS do keys_to_move[#keys_to_move + 1] = KEYS[i] end

for _, key in ipairs(keys_to_move) do
  if string.sub(key, 1, #base) ~= base then
    return redis.error_reply('TQ_FOREIGN_KEY ' .. key)
  end
end

-- The type a key has, and whether it is the wrong one.
local function wrong(key, expected)
  local found = rcall('TYPE', key)['ok']
  if found == 'none' then return false, found end
  if expected == 'integer' then
    return found ~= 'string' or not whole(rcall('GET', key), nil), found
  end
  return found ~= expected, found
end

local moved = {}
local function move(key, found)
  local target = base .. 'quarantine:' .. string.sub(key, #base + 1)
  if rcall('EXISTS', target) == 1 then target = target .. ':' .. now end
  rcall('RENAME', key, target)
  rcall('EXPIRE', target, quarantine_ttl)
  if key == base .. 'seq' then rcall('SET', key, now) end
  moved[#moved + 1] = key
  moved[#moved + 1] = found
  moved[#moved + 1] = target
end

-- the counters and the event stream first: this script writes to them
for _, own in ipairs({{stats, 'hash'}, {events, 'stream'}}) do
  local bad, found = wrong(own[1], own[2])
  if bad then move(own[1], found) end
end
for j, key in ipairs(keys_to_move) do
  local bad, found = wrong(key, ARGV[FIRST_TYPE + j - 1])
  if bad then move(key, found) end
end
if #moved > 0 then
  add(stats, 'quarantined', #moved / 3)
  for i = 1, #moved, 3 do
    rcall('XADD', events, 'MAXLEN', '~', events_maxlen, '*', 'event', 'quarantined',
          'count', 1, 'key', string.sub(moved[i], #base + 1), 'type', moved[i + 1])
  end
end
return moved
