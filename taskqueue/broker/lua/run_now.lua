--[[ run_now: make a scheduled task (a delay, or a retry waiting out its backoff) due at
once: it goes to the back of its priority in pending. Its failures are kept.

KEYS[1] scheduled  KEYS[2] pending  KEYS[3] seq  KEYS[4] wake  KEYS[5] events

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] id  ARGV[4] events MAXLEN
ARGV[5] wake bound  ARGV[6] band width (priority.BAND_WIDTH: the pending score, common.lua)

Returns: 'pending' (it was scheduled). When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: 'TQ_NOT_FOUND', 'TQ_INVALID_TRANSITION <status>' (anything but scheduled).
]]
--- @include "common"

local scheduled, pending, seq, wake, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, now, id, events_maxlen = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local wake_bound = ARGV[5]
local band_width = tonumber(ARGV[6])

local task_key = base .. 'task:' .. id
check_keys()
check(task_key, 'hash')
local held = held_scope(base, task_key)
check(base .. 'fair', 'hash')
if #damage > 0 then return damaged() end
local status = rcall('HGET', task_key, 'status')
if not status then return redis.error_reply('TQ_NOT_FOUND') end
if status ~= 'scheduled' then return redis.error_reply('TQ_INVALID_TRANSITION ' .. status) end
rcall('ZREM', scheduled, id)
unlist_held(base, task_key, id, held)  -- its limits still apply when it is claimed
local f = rcall('HMGET', task_key, 'band', 'tenant')
rcall('HSET', task_key, 'seq', next_seq(base, seq, pending, band_width, f[1], f[2]), 'run_at', now)
to_pending(pending, task_key, id, band_width)
emit(events, events_maxlen, id, 'pending')
wake_workers(wake, wake_bound, 1)
return 'pending'
