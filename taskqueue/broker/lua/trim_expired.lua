--[[ trim_expired: delete finished tasks past their retention, for queues where nothing
finishes any more (completing, cancelling and dead-lettering trim as they go, but an
idle queue would keep its last records, and their ids in the finished sets, until the
records' safety-net EXPIRE, a day after DEAD_TTL). Completed and cancelled records older
than RESULT_TTL and dead letters older than DEAD_TTL or beyond DEAD_MAX; at most `limit`
of each kind a call.

KEYS[1] completed  KEYS[2] cancelled  KEYS[3] dead  KEYS[4] errors  KEYS[5] index
KEYS[6] stats

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s  ARGV[4] dead TTL s
ARGV[5] dead max  ARGV[6] limit (at most 100: the helpers' batch)

Returns: {completed trimmed, cancelled trimmed, dead trimmed}.
Errors: none.
]]
--- @include "common"

local base, now = ARGV[1], now_ms(ARGV[2])
local cutoff = now - tonumber(ARGV[3]) * 1000
local done = trim_finished(base, KEYS[1], KEYS[5], cutoff)
local cancelled = trim_finished(base, KEYS[2], KEYS[5], cutoff)
local before = rcall('ZCARD', KEYS[3])
trim_dead(base, KEYS[3], KEYS[4], KEYS[5], KEYS[6], now, tonumber(ARGV[4]), ARGV[5])
return {done, cancelled, before - rcall('ZCARD', KEYS[3])}
