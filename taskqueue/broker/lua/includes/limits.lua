--[[ limits: flow control inside the claim (docs/flow-control.md).

A limit has a scope: 'queue' (every task of the queue), 'task:<name>' (one task name
in this queue), 'tenant' (each tenant on its own) or 'tenant:<name>' (one tenant). Its
configuration is two hashes of the queue: base .. 'limits' (what the code and settings
declare, written by every worker at start) and base .. 'limitset' (what an operator set
at run time; it wins, and '' there means "no limit"). Fields: 'rate:<scope>' =
'<count>/<period ms>/<burst>', 'conc:<scope>' = '<n>' (and the quotas, 'quota:queue'
and 'quota:tenant', which enqueue_tasks.lua reads).

Rate limits are GCRA (one timestamp per limit, no token keys): with T = period / count
and tau = (burst - 1) * T, a task may start at `now` when max(tat, now) <= now + tau,
and starting it sets tat = max(tat, now) + T; except that a tat at most MAX_SLACK_MS
behind now is kept rather than reset to now, so late claims do not lower the rate.
State: base .. 'gcra', fields 'tat:<scope>' and 'hz:<scope>' (the slot given to the
last task held back).

Concurrency limits count the holders in base .. 'slots:<scope>' (a ZSET of task ids)
that still hold a live lease in `active`: a holder that finished (gone from `active`)
is dropped, one whose lease expired no longer counts (the reaper gives its task back).
So a slot is freed by every path out of processing without those scripts knowing.

A task held back by a task-scope limit leaves the pending line: it is scheduled
(status 'scheduled', record fields 'held' = its limit's scope and 'held_by' = 'rate'
or 'conc') and listed in base .. 'held:<scope>' (id -> its pending score). The claims
take rate-held tasks straight from that line, oldest first, when the rate allows (their
scheduled time, the slot hz + T, is a safety net: maintenance leaves them held while
the rate applies); a concurrency-held task is brought back to its old place in line by
the next claim that finds a slot free (its scheduled time, HELD_RECHECK_MS later, is
the safety net). A queue-scope limit holds nothing back: the claim stops and says until
when (rate) or that it waits for a slot (concurrency). A tenant's limit holds nothing
back either: its tasks are passed over in place.
]]
local HELD_RECHECK_MS = 60000
-- A claim that comes a little after a permit was due (the worker's wake-up, a round
-- trip) does not lose that time: the schedule may lag by up to this much and catch
-- up (at most 0.9 of an interval, so a burst never grows by a task).
local MAX_SLACK_MS = 20
-- The bounds limits.py enforces, again here: Redis contents are not trusted.
local MAX_COUNT, MAX_PERIOD_MS, MAX_BURST, MAX_CONCURRENCY = 1000000, 86400000, 10000, 1000

-- The effective limits, or nil when the queue has none (the claim's fast path).
local function load_limits(declared_key, set_key)
  local fields = {}
  for _, key in ipairs({declared_key, set_key}) do
    local flat = rcall('HGETALL', key)
    for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  end
  local rates, concs, any = {}, {}, false
  for field, value in pairs(fields) do
    local kind, scope = string.match(field, '^(%a+):(.+)$')
    if kind == 'rate' then
      local count, period, burst = string.match(value, '^(%d+)/(%d+)/(%d+)$')
      count, period, burst = tonumber(count), tonumber(period), tonumber(burst)
      if count and count > 0 and count <= MAX_COUNT and period > 0 and period <= MAX_PERIOD_MS
         and burst > 0 and burst <= MAX_BURST then
        local t = period / count
        rates[scope] = {t = t, tau = (burst - 1) * t, slack = math.min(0.9 * t, MAX_SLACK_MS)}
        any = true
      end
    elseif kind == 'conc' then
      local n = tonumber(string.match(value, '^(%d+)$'))
      if n and n > 0 and n <= MAX_CONCURRENCY then
        concs[scope] = n
        any = true
      end
    end
  end
  if not any then return nil end
  local tenants = false  -- any tenant's own limit ('tenant' or 'tenant:<name>')
  for _, kind in ipairs({rates, concs}) do
    for scope in pairs(kind) do
      if string.sub(scope, 1, 6) == 'tenant' then tenants = true end
    end
  end
  return {rates = rates, concs = concs, tenants = tenants}
end

-- GCRA state, read once per script and written back by gcra_save (so a script that
-- finds damage half-way has changed nothing).
local function gcra_state(base)
  return {key = base .. 'gcra', values = {}, changed = {}}
end

local function gcra_get(state, field)
  if state.values[field] == nil then
    local n = tonumber(rcall('HGET', state.key, field))
    if n == nil or n ~= n or n == math.huge or n == -math.huge then n = 0 end
    state.values[field] = n
  end
  return state.values[field]
end

local function gcra_set(state, field, value)
  state.values[field] = value
  state.changed[field] = true
end

local function gcra_save(state)
  for field in pairs(state.changed) do
    rcall('HSET', state.key, field, string.format('%.3f', state.values[field]))
  end
end

-- Where the rate's schedule stands: its theoretical arrival time, or now after a quiet
-- spell; a schedule lagging by at most the slack keeps its place (it catches up).
local function rate_schedule(state, scope, rate, now)
  local tat = gcra_get(state, 'tat:' .. scope)
  if tat >= now - rate.slack then return tat end
  return now
end

-- The earliest time a task of this rate may start (<= now: it may start now).
local function rate_ready_at(state, scope, rate, now)
  return rate_schedule(state, scope, rate, now) - rate.tau
end

local function rate_take(state, scope, rate, now)
  gcra_set(state, 'tat:' .. scope, rate_schedule(state, scope, rate, now) + rate.t)
end

-- The slot for the next task held back by this rate: after the last one held (hz).
local function rate_slot(state, scope, rate, now)
  local slot = math.max(gcra_get(state, 'hz:' .. scope) + rate.t,
                        rate_ready_at(state, scope, rate, now), now + 1)
  gcra_set(state, 'hz:' .. scope, slot)
  return math.ceil(slot)
end

-- Whether tasks held back by this rate are still waiting for their slots (a new task
-- then goes behind them, not ahead).
local function rate_has_line(state, scope, now)
  return gcra_get(state, 'hz:' .. scope) > now
end

-- Holders of a concurrency slot whose lease is live; finished holders are dropped.
local function slots_live(base, scope, active, now)
  local key, live = base .. 'slots:' .. scope, 0
  for _, id in ipairs(rcall('ZRANGE', key, 0, -1)) do
    local deadline = tonumber(rcall('ZSCORE', active, id))
    if not deadline then
      rcall('ZREM', key, id)
    elseif deadline >= now then
      live = live + 1
    end
  end
  return live
end

-- Hold a task back for `scope` until `run_at`: out of pending, into scheduled.
local function hold(base, pending, id, task_key, scope, run_at, events, events_maxlen, kind)
  local score = rcall('ZSCORE', pending, id) or 0
  rcall('ZREM', pending, id)
  rcall('ZADD', base .. 'scheduled', run_at, id)
  rcall('ZADD', base .. 'held:' .. scope, score, id)
  rcall('HSET', task_key, 'status', 'scheduled', 'run_at', run_at, 'held', scope,
        'held_by', kind or '')
  emit(events, events_maxlen, id, 'scheduled')
end

-- Bring back up to n tasks held for `scope` (a concurrency slot came free), at their
-- old places in line. Ids no longer held there (cancelled, run now) are dropped.
local function unhold(base, pending, scope, n, band_width, events, events_maxlen, only)
  local key, scheduled, moved, from = base .. 'held:' .. scope, base .. 'scheduled', 0, 0
  local looked = 0
  while moved < n and looked < n + 1000 do
    local ids = rcall('ZRANGE', key, from, from + n - moved - 1)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      looked = looked + 1
      local task_key = base .. 'task:' .. id
      local f = rcall('HMGET', task_key, 'held', 'held_by')
      local is_held = rcall('ZSCORE', scheduled, id) and f[1] == scope
      if is_held and only and f[2] ~= only then
        from = from + 1
      else
        rcall('ZREM', key, id)
        if is_held then
          rcall('ZREM', scheduled, id)
          rcall('HDEL', task_key, 'held', 'held_by')
          to_pending(pending, task_key, id, band_width)
          emit(events, events_maxlen, id, 'pending')
          moved = moved + 1
        end
      end
    end
  end
  return moved
end

-- The keys the limits will touch, type-checked before anything is written.
local function check_limit_keys(base, limits)
  check(base .. 'gcra', 'hash')
  check(base .. 'scheduled', 'zset')
  check(base .. 'timer', 'list')
  for _, kind in ipairs({'rates', 'concs'}) do
    for scope in pairs(limits[kind]) do
      check(base .. 'slots:' .. scope, 'zset')
      check(base .. 'held:' .. scope, 'zset')
    end
  end
end
