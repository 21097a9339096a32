--[[ common: helpers shared by the scripts (inlined where a script says @include).

Conventions: ARGV[1] of every script is the queue's key base '<prefix>:{q}:', and
per-task keys are base .. 'task:' .. id (see keys.py). Times are epoch milliseconds.
Each script names its KEYS and ARGV once, right after its header and this include;
the helpers take what they need as arguments.
]]
local rcall = redis.call

-- Now in ms: the caller's value when it passes one (tests), else Redis's own clock.
local function now_ms(given)
  if given ~= nil and given ~= '' then return tonumber(given) end
  local t = rcall('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A whole number from a record field in 0..2^53, or `default` when the field is
-- missing or malformed: Redis contents are not trusted, and a script that raised an
-- error half-way would keep what it had done so far (no rollback): a lost task.
local function whole(value, default)
  local n = tonumber(value)
  if n == nil or n ~= n or n < 0 or n > 9007199254740992 or n ~= math.floor(n) then
    return default
  end
  return n
end

-- Redis contents are not trusted, and that includes the TYPE of a key: a command on a
-- key of another type fails half-way through a script, keeping what it had done (a
-- lost task), and fails again on every later call (a stalled queue). So a script looks
-- at every key it will touch before it changes anything; when one has the wrong type
-- it changes nothing and returns the damage, {{key, type found, type expected, ...}},
-- and the broker moves those keys aside (quarantine_keys.lua) and calls again
-- (broker/damage.py). paused is not listed: its existence is the flag, whatever it holds.
local KIND_TYPES = {
  pending = 'zset', scheduled = 'zset', active = 'zset', completed = 'zset',
  cancelled = 'zset', dead = 'zset', index = 'zset', seq = 'string', wake = 'list',
  timer = 'list', events = 'stream', stats = 'hash', errors = 'hash', runtime = 'hash',
  waiting = 'zset', outbox = 'stream', limits = 'hash', limitset = 'hash', gcra = 'hash',
  tenants = 'hash', fair = 'hash',
}
local damage = {}

-- Whether `key` is missing or of the `expected` type; else the key is noted as damage.
local function check(key, expected)
  local found = rcall('TYPE', key)['ok']
  if found == 'none' or found == expected then return true end
  damage[#damage + 1] = key
  damage[#damage + 1] = found
  damage[#damage + 1] = expected
  return false
end

-- HSET of `flat` (field, value, field, value...) in calls of at most 1,000 pairs: Lua's
-- unpack has a limit.
local HSET_PAIRS = 1000
local function hset_all(key, flat)
  for i = 1, #flat, 2 * HSET_PAIRS do
    rcall('HSET', key, unpack(flat, i, math.min(i + 2 * HSET_PAIRS - 1, #flat)))
  end
end

-- Workflows (docs/workflows.md): a task that belongs to a workflow, or that a task of
-- a workflow depends on, carries the record field 'notify' = JSON [[workflow, node],
-- ...]. Every change a workflow must hear of (completed, dead, cancelled, requeued,
-- deleted) appends one entry per pair to the queue's outbox stream in the same script
-- as the change (the transactional outbox); workers then advance the workflows in
-- their own slots and delete the entries. Scripts that call this check the outbox's
-- type first (check_outbox). `listed`: the record's notify field when the caller read
-- it already (false: it has none). A pair's third value 1 says the workflow's keys
-- share the task's slot (set at submission): `in_place(workflow, node, id, result)`,
-- when given, may then apply the change itself and return true, and no entry is
-- written for that pair (complete_tasks: in_place.lua). Returns how many entries it
-- wrote.
local function notify(base, task_key, id, status, result, listed, in_place)
  if listed == nil then listed = rcall('HGET', task_key, 'notify') end
  if not listed or listed == '' then return 0 end
  local ok, targets = pcall(cjson.decode, listed)
  if not ok or type(targets) ~= 'table' then return 0 end
  local n = 0
  for _, pair in ipairs(targets) do
    if type(pair) == 'table' and type(pair[1]) == 'string' and type(pair[2]) == 'string'
        and not (in_place and pair[3] == 1 and in_place(pair[1], pair[2], id, result)) then
      rcall('XADD', base .. 'outbox', '*', 'wf', pair[1], 'node', pair[2], 'id', id,
            'status', status, 'result', result or '')
      n = n + 1
    end
  end
  return n
end

-- The keys a change of status may write besides its KEYS: the outbox (above) and the
-- tenants' backlog counts (count_tenant, below).
local function check_shared(base)
  check(base .. 'outbox', 'stream')
  check(base .. 'tenants', 'hash')
end

-- Check every key in KEYS by its kind (the name's last part); the seq counter must
-- also hold a whole number, or INCR fails.
local function check_keys()
  for _, key in ipairs(KEYS) do
    local kind = string.match(key, ':([a-z]+)$')
    local expected = KIND_TYPES[kind]
    if expected and check(key, expected) and kind == 'seq' then
      local value = rcall('GET', key)
      if value and not whole(value, nil) then
        damage[#damage + 1] = key
        damage[#damage + 1] = 'string'
        damage[#damage + 1] = 'integer'
      end
    end
  end
end

-- What a script returns when it found damage (it has changed nothing).
local function damaged()
  return {damage}
end

-- HINCRBY that a counter holding something else than a whole number cannot break (it
-- would fail the script half-way): such a value restarts from 0. Returns the new value.
local function add(key, field, n)
  local value = rcall('HGET', key, field)
  if value and (#value > 17 or not string.match(value, '^%-?%d+$')) then
    rcall('HSET', key, field, 0)
  end
  return rcall('HINCRBY', key, field, n)
end

-- A field of a hash, or nil when the key is missing or not a hash (read-only paths
-- and keys about to be deleted, where a wrong type is simply skipped).
local function hash_field(key, field)
  if rcall('TYPE', key)['ok'] ~= 'hash' then return nil end
  return rcall('HGET', key, field)
end

-- Add one to a counter field of a task record (attempts, failures, lost); a malformed
-- value counts as 0. Returns the new value.
local function bump(task_key, field)
  local n = whole(rcall('HGET', task_key, field), 0) + 1
  rcall('HSET', task_key, field, n)
  return n
end

-- Pending score = band * band_width + seq (priority.py; the scripts that score pending
-- tasks are passed priority.BAND_WIDTH). Formatted exactly: Lua's own number-to-string
-- conversion keeps 14 digits and would break FIFO. A malformed band or seq (from a
-- record) takes the default band 100 or seq 0.
local function pending_score(band, seq, band_width)
  band = whole(band, 100)
  if band > 200 then band = 100 end
  seq = whole(seq, 0) % band_width
  return string.format('%.0f', band * band_width + seq)
end

local function emit(events_key, maxlen, id, status)
  rcall('XADD', events_key, 'MAXLEN', '~', maxlen, '*', 'id', id, 'status', status)
end

local function emit_queue(events_key, maxlen, event, count)
  rcall('XADD', events_key, 'MAXLEN', '~', maxlen, '*', 'event', event, 'count', count)
end

-- Push up to n wake-up tokens, keeping the list at most `bound` long.
local function wake_workers(wake_key, bound, n)
  local room = math.min(n, tonumber(bound) - rcall('LLEN', wake_key))
  for _ = 1, room do rcall('LPUSH', wake_key, '1') end
end

-- Tell sleeping schedulers that the scheduled set changed (one token is enough).
local function arm_timer(timer_key)
  if rcall('LLEN', timer_key) == 0 then rcall('LPUSH', timer_key, '1') end
end

-- Close the history entry 'h:<attempt>' = 'worker|started' with '|ended|outcome'.
local function close_attempt(task_key, attempt, now, outcome)
  local field = 'h:' .. attempt
  local entry = rcall('HGET', task_key, field)
  if entry then rcall('HSET', task_key, field, entry .. '|' .. now .. '|' .. outcome) end
end

-- History (docs/redis-keys.md#history): a queue's counts and histograms per minute,
-- kept MINUTE_TTL (base .. 'm:<minute>', 'wait:m:<minute>', 'rt:m:<minute>'), and per
-- hour, kept HOUR_TTL ('h:<hour>', 'wait:h:<hour>', 'rt:h:<hour>'): minute = epoch
-- ms // 60000, hour = epoch ms // 3600000. Bounded by their TTLs whatever the traffic.
local MINUTE_TTL, HOUR_TTL = 7200, 691200  -- 2 h; 8 days (7 d of charts + a day)

local function minute_of(now) return math.floor(now / 60000) end
local function hour_of(now) return math.floor(now / 3600000) end

-- HINCRBY on a history bucket (hour and histogram keys), which are statistics, not
-- tasks: a field that is not a whole number restarts at n, and an increment that meets
-- a key of another type is dropped (redis.pcall) rather than failing the script, so
-- no TYPE look is needed first. The bucket gets its TTL when the increment made the
-- field (one EXPIRE per field and bucket, not one per call).
local function tally(key, field, n, ttl)
  local got = redis.pcall('HINCRBY', key, field, n)
  if type(got) ~= 'number' and type(redis.pcall('HSET', key, field, n)) == 'number' then
    got = n
  end
  if got == n then redis.pcall('EXPIRE', key, ttl) end
end

-- Completed / failed: this minute's counter (checked by the caller first, like every
-- key it writes) and this hour's (tally).
local function count_minute(base, now, field, n)
  if n == 0 then return end
  local key = base .. 'm:' .. minute_of(now)
  add(key, field, n)
  rcall('EXPIRE', key, MINUTE_TTL)
  tally(base .. 'h:' .. hour_of(now), field, n, HOUR_TTL)
end

-- The wait histograms' upper bounds in ms (taskqueue/broker/history.py's WAIT_BUCKETS
-- in seconds): field 'b<i>' counts the waits whose first bound >= the wait is the i-th
-- (0-based), 'b16' those above the last. No sum or count fields: the count is the
-- buckets' sum, and each field costs the claim an HINCRBY per bucket key.
local WAIT_BOUNDS = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                     300000, 900000, 3600000}

-- The waits (ready time -> claim, ms) of the tasks one claim took, into this minute's
-- and this hour's wait histograms of the queue: one HINCRBY per histogram bucket hit
-- and bucket key (the claim's batch is added up first).
local function count_waits(base, now, waits)
  if #waits == 0 then return end
  local hits = {}
  for _, ms in ipairs(waits) do
    local low, high = 1, #WAIT_BOUNDS + 1  -- the first bound >= ms (a binary search)
    while low < high do
      local mid = math.floor((low + high) / 2)
      if ms <= WAIT_BOUNDS[mid] then high = mid else low = mid + 1 end
    end
    hits[low - 1] = (hits[low - 1] or 0) + 1
  end
  local minute, hour = base .. 'wait:m:' .. minute_of(now), base .. 'wait:h:' .. hour_of(now)
  for i, n in pairs(hits) do
    tally(minute, 'b' .. i, n, MINUTE_TTL)
    tally(hour, 'b' .. i, n, HOUR_TTL)
  end
end

-- Put a task back in pending at its original FIFO place (its stored band and seq).
local function to_pending(pending_key, task_key, id, band_width)
  local pos = rcall('HMGET', task_key, 'band', 'seq')
  rcall('ZADD', pending_key, pending_score(pos[1], pos[2], band_width), id)
  rcall('HSET', task_key, 'status', 'pending', 'worker', '', 'lease_until', '')
end

-- Ids of a finished set (completed, cancelled) finished before cutoff (at most 100).
local function finished_due(set_key, cutoff)
  return rcall('ZRANGEBYSCORE', set_key, '-inf', cutoff, 'LIMIT', 0, 100)
end

-- Dead letters past their TTL, else the oldest beyond `max` (at most 100).
local function dead_due(dead_key, now, ttl_s, max)
  local ids = rcall('ZRANGEBYSCORE', dead_key, '-inf', now - ttl_s * 1000, 'LIMIT', 0, 100)
  local excess = rcall('ZCARD', dead_key) - tonumber(max)
  if excess > #ids then ids = rcall('ZRANGE', dead_key, 0, math.min(excess, 100) - 1) end
  return ids
end

local function uncount_error(errors_key, error_type)
  if error_type and add(errors_key, error_type, -1) <= 0 then
    rcall('HDEL', errors_key, error_type)
  end
end

-- Delete these finished tasks' records and ids (dead letters: uncounted from
-- `errors_key` too). A record of the wrong type is left in place: the maintenance's
-- trim_expired meets it first thing and has it moved aside (damage). Returns how many.
local function trim_ids(base, set_key, index_key, ids, errors_key)
  local n = 0
  for _, id in ipairs(ids) do
    local task_key = base .. 'task:' .. id
    local found = rcall('TYPE', task_key)['ok']
    if found == 'hash' or found == 'none' then
      if errors_key and found == 'hash' then
        uncount_error(errors_key, rcall('HGET', task_key, 'error_type'))
        notify(base, task_key, id, 'deleted')
      end
      rcall('DEL', task_key)
      rcall('ZREM', set_key, id)
      rcall('ZREM', index_key, id)
      n = n + 1
    end
  end
  return n
end

-- Delete records of finished tasks older than cutoff from a finished set (bounded).
local function trim_finished(base, set_key, index_key, cutoff)
  return trim_ids(base, set_key, index_key, finished_due(set_key, cutoff))
end

-- Drop dead letters past their TTL, then the oldest beyond `max` (at most 100 a call).
local function trim_dead(base, dead_key, errors_key, index_key, stats_key, now, ttl_s, max)
  local ids = dead_due(dead_key, now, ttl_s, max)
  local n = trim_ids(base, dead_key, index_key, ids, errors_key)
  if n > 0 then add(stats_key, 'dead_trimmed', n) end
  return n
end

-- Move a task (already out of its set) into the dead-letter queue.
local function bury(dead_key, errors_key, task_key, id, now, ttl_s, error_type, reason)
  rcall('HSET', task_key, 'status', 'dead', 'finished_at', now, 'lease_until', '',
        'dead_reason', reason)
  rcall('ZADD', dead_key, now, id)
  add(errors_key, error_type, 1)
  -- A safety net only: trim_dead deletes the record first, keeping `errors` exact.
  rcall('EXPIRE', task_key, ttl_s + 86400)
end


-- A task held back by a limit (includes/limits.lua) is listed in base .. 'held:<scope>'.
-- held_scope checks that list's type (call it before writing); unlist_held forgets
-- the task there once it is cancelled, deleted or run now.
local function held_scope(base, task_key)
  local scope = hash_field(task_key, 'held')
  if not scope or scope == '' then return nil end
  if check(base .. 'held:' .. scope, 'zset') then return scope end
  return nil
end

local function unlist_held(base, task_key, id, scope)
  if scope then
    rcall('ZREM', base .. 'held:' .. scope, id)
    rcall('HDEL', task_key, 'held', 'held_by')
  end
end

-- Fair share across tenants (docs/flow-control.md#tenants): start-time fair queuing
-- on the pending score. A queue that has seen a tenant (base .. 'fair', field 'on')
-- keeps, per priority band, a virtual clock ('v:<band>': just before the seq at the
-- head of that band's line, advanced by the claims) and each tenant's last position
-- ('t:<band>:<tenant>'; tasks without a tenant form the lane ''). A task's seq is
-- max(clock, its tenant's last) + step, so the tenants' tasks interleave whatever their
-- backlogs: a tenant with 100,000 waiting costs a newcomer one turn, not 100,000. The
-- step is 1 for a tenant with a small backlog (fewer than FAIR_SMALL other unfinished
-- tasks in the queue, base .. 'tenants') and FAIR_STRIDE for a larger one: a burst
-- of up to FAIR_SMALL tasks goes ahead of the next turn of a tenant with a flood, and
-- tenants with floods share equally. Tasks without a tenant form one lane that always
-- takes the large step. Priority bands still come strictly first. A queue that never
-- saw a tenant keeps the plain FIFO counter. Callers check base .. 'fair' (a hash) first.
local FAIR_SMALL = 100
local FAIR_STRIDE = 100
local function band_head_seq(pending_key, band, band_width)
  local low = string.format('%.0f', band * band_width)
  local high = string.format('%.0f', (band + 1) * band_width - 1)
  local head = rcall('ZRANGEBYSCORE', pending_key, low, high, 'WITHSCORES', 'LIMIT', 0, 1)
  if head[2] then return tonumber(head[2]) % band_width end
  return nil
end

local function next_seq(base, seq_key, pending_key, band_width, band, tenant)
  local fair = base .. 'fair'
  tenant = tenant or ''
  if not rcall('HGET', fair, 'on') then
    if tenant == '' then return rcall('INCR', seq_key) end
    rcall('HSET', fair, 'on', 1)
  end
  band = whole(band, 100)
  if band > 200 then band = 100 end
  local counter = whole(rcall('GET', seq_key), 0)
  local clock = tonumber(rcall('HGET', fair, 'v:' .. band))
  if not clock then
    clock = (band_head_seq(pending_key, band, band_width) or (counter + 1)) - 1
  end
  local lane = 't:' .. band .. ':' .. tenant
  local last = tonumber(rcall('HGET', fair, lane))
  if not last then last = tenant == '' and counter or 0 end  -- '' holds the old line
  local step = FAIR_STRIDE
  if tenant ~= '' and whole(rcall('HGET', base .. 'tenants', tenant), 0) < FAIR_SMALL then
    step = 1
  end
  local seq = math.max(clock, last) + step
  rcall('HSET', fair, lane, string.format('%.0f', seq), 'v:' .. band, string.format('%.0f', clock))
  return seq
end

-- After a claim took tasks (seq by band), move each band's clock up to its new head.
local function advance_clocks(base, pending_key, band_width, taken)
  local fair = base .. 'fair'
  for band, seq in pairs(taken) do
    local clock = tonumber(rcall('HGET', fair, 'v:' .. band)) or 0
    local head = band_head_seq(pending_key, band, band_width)
    rcall('HSET', fair, 'v:' .. band, string.format('%.0f', math.max(clock, head and head - 1 or seq)))
  end
end

-- Each tenant's backlog (docs/flow-control.md#quotas): base .. 'tenants' counts the
-- tenant's unfinished tasks, from creation to completed, dead, cancelled or deleted
-- (a requeue counts the task again). A counted record carries 'counted' = '1', so
-- counting is idempotent whatever path a task takes. `counted`: the record's field
-- when the caller read it already. Callers check the key first (check_shared).
local function count_tenant(base, task_key, status, counted)
  local finished = status == 'completed' or status == 'dead' or status == 'cancelled'
                   or status == 'deleted'
  if counted == nil then counted = rcall('HGET', task_key, 'counted') end
  if finished and counted == '1' then
    local tenant = rcall('HGET', task_key, 'tenant')
    rcall('HSET', task_key, 'counted', 0)
    if tenant and tenant ~= '' and add(base .. 'tenants', tenant, -1) <= 0 then
      rcall('HDEL', base .. 'tenants', tenant)
    end
  elseif not finished and counted ~= '1' then
    local tenant = rcall('HGET', task_key, 'tenant')
    if tenant and tenant ~= '' then
      add(base .. 'tenants', tenant, 1)
      rcall('HSET', task_key, 'counted', 1)
    end
  end
end
