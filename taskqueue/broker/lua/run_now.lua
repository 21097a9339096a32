--[[ run_now: make a scheduled task (a delay, or a retry waiting out its backoff) due at
once: it goes to the back of its priority in pending. Its failures are kept.

KEYS[1] scheduled  KEYS[2] pending  KEYS[3] seq  KEYS[4] wake  KEYS[5] events

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] id  ARGV[4] events MAXLEN
ARGV[5] wake bound

Returns: 'pending' (it was scheduled). When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: 'TQ_NOT_FOUND', 'TQ_INVALID_TRANSITION <status>' (anything but scheduled).
]]
--- @include "common"

local base, now, id = ARGV[1], now_ms(ARGV[2]), ARGV[3]
local task_key = base .. 'task:' .. id
check_keys()
check(task_key, 'hash')
if #damage > 0 then return damaged() end
local status = rcall('HGET', task_key, 'status')
if not status then return redis.error_reply('TQ_NOT_FOUND') end
if status ~= 'scheduled' then return redis.error_reply('TQ_INVALID_TRANSITION ' .. status) end
rcall('ZREM', KEYS[1], id)
rcall('HSET', task_key, 'seq', rcall('INCR', KEYS[3]), 'run_at', now)
to_pending(KEYS[2], task_key, id)
emit(KEYS[5], ARGV[4], id, 'pending')
wake(KEYS[4], ARGV[5], 1)
return 'pending'
