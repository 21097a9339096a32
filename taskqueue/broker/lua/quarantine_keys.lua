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

local base, now, ttl = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[4])
for i = 3, #KEYS do
  if string.sub(KEYS[i], 1, #base) ~= base then
    return redis.error_reply('TQ_FOREIGN_KEY ' .. KEYS[i])
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
  rcall('EXPIRE', target, ttl)
  if key == base .. 'seq' then rcall('SET', key, now) end
  moved[#moved + 1] = key
  moved[#moved + 1] = found
  moved[#moved + 1] = target
end

-- the counters and the event stream first: this script writes to them
for i = 1, 2 do
  local bad, found = wrong(KEYS[i], i == 1 and 'hash' or 'stream')
  if bad then move(KEYS[i], found) end
end
for i = 3, #KEYS do
  local bad, found = wrong(KEYS[i], ARGV[i + 2])
  if bad then move(KEYS[i], found) end
end
if #moved > 0 then
  add(KEYS[1], 'quarantined', #moved / 3)
  for i = 1, #moved, 3 do
    rcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', 'quarantined',
          'count', 1, 'key', string.sub(moved[i], #base + 1), 'type', moved[i + 1])
  end
end
return moved
