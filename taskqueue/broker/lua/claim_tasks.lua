--[[ claim_tasks: pop up to N pending tasks, highest priority first, FIFO within one,
and move each into the active set under a lease, in one step (no task can be lost
between the pop and the lease). Claiming bumps the attempt number: the fencing token
every later report on this attempt must present.

Suspects (tasks that lost a lease: their worker died, maybe because of them) are only
ever held alone, so that a worker that dies while holding one can blame nobody else:
mode 'alone' (the worker holds nothing) takes a suspect at the head of the line by
itself; mode 'busy' (it holds other tasks) leaves suspects in place and takes the
tasks behind them. Either way the reply ends with how many suspects were passed over,
so the worker can finish what it holds and come back for them. Mode '' takes every
task in order, suspects included (callers that do not isolate suspects).

Flow control (includes/limits.lua, docs/flow-control.md): when the queue has limits, a
task whose own task-scope limit is reached is held back (scheduled for its slot) and
the tasks behind it are claimed; tasks held back by a rate are taken from their line,
oldest first, when it allows; a task whose tenant is at its own limit is passed over
in place; when a queue-scope limit is reached the claim stops. Claimed tasks take
their concurrency slots and rate permits in the same step. In a queue with tenants,
the claim moves the fair-share clocks (common.lua's next_seq).

KEYS[1] pending  KEYS[2] active  KEYS[3] paused  KEYS[4] events  KEYS[5] stats
KEYS[6] wake (only checked: the workers BLPOP it between claims)
KEYS[7] limits  KEYS[8] limitset (the limits' configuration, includes/limits.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] max tasks
ARGV[4] lease ms  ARGV[5] worker id  ARGV[6] events MAXLEN
ARGV[7] suspects mode: '' (take them), 'alone', 'busy'
ARGV[8] band width (priority.BAND_WIDTH: where a held task goes back in line)

Returns: the suspects passed over (0 in mode ''), then why the claim stopped short: 0
(it did not), the ms until the queue's rate limit lets the next task start (> 0),
or -1 (the queue's concurrency limit is reached: wait for a slot), then the ms until
the rate of a line of held tasks lets the next of them start (0: none waits), then 12
values per claimed task: id, attempt, name, args JSON, kwargs JSON, timeout s ('' =
none), failures so far, max retries, meta JSON, leases lost so far, tenant ('' = none),
band (the worker keeps priority and the tenants' turns among the tasks it claimed
ahead: worker/ready.py). Nothing
is claimed when the queue is paused or empty. An id whose record is missing is dropped
and counted as an orphan. When a key it would touch (the KEYS, the records of the ids
it would take) has the wrong type: the damage, and nothing changed (common.lua).
Each claimed task's wait (from its ready time, run_at, to now) is added to the
queue's wait histograms of this minute and hour (common.lua's count_waits).
Errors: none.
]]
--- @include "common"

--- @include "limits"

local pending, active, paused, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local wake = KEYS[6]  -- only checked (check_keys goes through every KEYS)
local limits_declared, limits_set = KEYS[7], KEYS[8]
local base, now, max_tasks = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local lease_ms, worker_id, events_maxlen = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local suspects_mode = ARGV[7] or ''
local band_width = tonumber(ARGV[8])

local MAX_PASSED = 50  -- suspects looked past in one call (bounded work)
local MAX_HELD = 100  -- tasks held back by a limit in one call (bounded work)
local MAX_SKIPPED = 200  -- tasks of tenants at their limits looked past in one call
check_keys()
check(base .. 'fair', 'hash')
if #damage > 0 then return damaged() end
if rcall('EXISTS', paused) == 1 then return {0, 0, 0} end
local fair = rcall('HGET', base .. 'fair', 'on')  -- tenants: the clocks move (common.lua)
local limits = load_limits(limits_declared, limits_set)
if limits then
  check_limit_keys(base, limits)
  if #damage > 0 then return damaged() end
end
local deadline = now + lease_ms

-- Whether a candidate is taken, given its 'lost' count: the suspects rule (header).
local passed, taken_alone = 0, false
local function suspect_allows(ids, lost)
  if suspects_mode == '' or lost <= 0 then return true end
  if suspects_mode == 'alone' and #ids == 0 then
    taken_alone = true
    return true
  end
  passed = passed + 1
  return false
end

-- Without limits: read only as many ids as are still wanted (a queue without suspects
-- costs one ZRANGE of `max_tasks`), and at most MAX_PASSED suspects beyond them.
local function select_plain()
  local ids = {}
  if suspects_mode == '' then
    for _, id in ipairs(rcall('ZRANGE', pending, 0, max_tasks - 1)) do
      if check(base .. 'task:' .. id, 'hash') then ids[#ids + 1] = id end
    end
    return ids
  end
  local from, last = 0, max_tasks + MAX_PASSED - 1
  while #ids < max_tasks and from <= last and not taken_alone do
    local to = math.min(from + max_tasks - #ids - 1, last)
    local candidates = rcall('ZRANGE', pending, from, to)
    if #candidates == 0 then break end
    from = to + 1
    for _, id in ipairs(candidates) do
      local task_key = base .. 'task:' .. id
      if check(task_key, 'hash') then  -- a damaged record is returned below
        local lost = tonumber(rcall('HGET', task_key, 'lost')) or 0
        if suspect_allows(ids, lost) then ids[#ids + 1] = id end
        if taken_alone then break end
      end
    end
  end
  return ids
end

-- With limits: first the lines of tasks a rate held back, oldest first, while their
-- rate allows (so a due slot does not wait for maintenance to bring its task back);
-- then the pending candidates in line order, where a task whose own limit is reached
-- is held back. A queue-scope limit stops the claim. Holds and the GCRA state are
-- written after the damage check. Returns the ids to take (those from a held line are
-- in `from_held`), the slots to add, why it stopped, and the ms until the next permit
-- of a held line (0: none waits).
local function select_limited()
  local ids, holds, slot_adds, stopped, next_permit = {}, {}, {}, 0, 0
  local from_held, looked = {}, {}

  -- The earliest permit a waiting task will get, in ms from now (0: none waits).
  local function note_permit(wait)
    if wait > 0 and (next_permit == 0 or wait < next_permit) then next_permit = wait end
  end
  local gcra = gcra_state(base)
  local live = {}
  for scope, n in pairs(limits.concs) do
    live[scope] = slots_live(base, scope, active, now)
    if string.sub(scope, 1, 5) == 'task:' and live[scope] < n then
      unhold(base, pending, scope, n - live[scope], band_width, events, events_maxlen, 'conc')
    end
  end
  local q_rate, q_conc = limits.rates['queue'], limits.concs['queue']

  local function queue_allows()
    if q_conc and live['queue'] >= q_conc then
      stopped = -1
    elseif q_rate and rate_ready_at(gcra, 'queue', q_rate, now) > now then
      stopped = math.max(1, math.ceil(rate_ready_at(gcra, 'queue', q_rate, now) - now))
    end
    return stopped == 0
  end

  -- A tenant's own limits (docs/flow-control.md#tenant-limits): 'tenant' holds for each
  -- tenant alone, 'tenant:<name>' for one. Returns the scope, its rate and concurrency,
  -- and whether it lets a task start now (when not, the task is passed over in place:
  -- fair share keeps the other tenants' tasks near the head of the line).
  local function tenant_allows(tenant)
    if not tenant or tenant == '' or not limits.tenants then return nil, nil, nil, true end
    local scope = 'tenant:' .. tenant
    local rate = limits.rates[scope] or limits.rates['tenant']
    local conc = limits.concs[scope] or limits.concs['tenant']
    if conc and live[scope] == nil then
      live[scope] = check(base .. 'slots:' .. scope, 'zset')
                    and slots_live(base, scope, active, now) or 0
    end
    if conc and live[scope] >= conc then return scope, rate, conc, false end
    if rate then
      local ready = rate_ready_at(gcra, scope, rate, now)
      if ready > now then
        note_permit(ready - now)
        return scope, rate, conc, false
      end
    end
    return scope, rate, conc, true
  end

  local function admit(id, scope, rate, tscope, trate, tconc)
    ids[#ids + 1] = id
    if rate then rate_take(gcra, scope, rate, now) end
    if q_rate then rate_take(gcra, 'queue', q_rate, now) end
    if trate then rate_take(gcra, tscope, trate, now) end
    for _, s in ipairs({scope, 'queue', tconc and tscope or nil}) do
      if limits.concs[s] or s == tscope then
        live[s] = live[s] + 1
        slot_adds[#slot_adds + 1] = {base .. 'slots:' .. s, id}
      end
    end
  end

  for scope, rate in pairs(limits.rates) do
    if string.sub(scope, 1, 5) == 'task:' then
      local conc, key = limits.concs[scope], base .. 'held:' .. scope
      for _, id in ipairs(rcall('ZRANGE', key, 0, max_tasks - 1)) do
        local ready = rate_ready_at(gcra, scope, rate, now)
        if ready > now then
          note_permit(ready - now)
          break
        end
        if #ids >= max_tasks or (conc and live[scope] >= conc) or not queue_allows() then break end
        local task_key = base .. 'task:' .. id
        if check(task_key, 'hash') then
          local f = rcall('HMGET', task_key, 'held', 'lost', 'tenant')
          if (tonumber(f[2]) or 0) > 0 then break end  -- a suspect: the line's path
          local tscope, trate, tconc, fits = tenant_allows(f[3])
          if not fits then break end  -- its tenant's turn has not come: the line waits
          looked[#looked + 1] = {key, id}
          if f[1] == scope and rcall('ZSCORE', base .. 'scheduled', id) then
            from_held[#from_held + 1] = id
            admit(id, scope, rate, tscope, trate, tconc)
          end
        end
      end
    end
  end

  local from, last = 0, max_tasks + MAX_PASSED + MAX_HELD + MAX_SKIPPED - 1
  while #ids < max_tasks and from <= last and not taken_alone and stopped == 0 do
    local to = math.min(from + max_tasks - #ids - 1, last)
    local candidates = rcall('ZRANGE', pending, from, to)
    if #candidates == 0 then break end
    from = to + 1
    for _, id in ipairs(candidates) do
      local task_key = base .. 'task:' .. id
      if check(task_key, 'hash') then
        local f = rcall('HMGET', task_key, 'name', 'lost', 'held', 'tenant')
        local scope = 'task:' .. (f[1] or '')
        local rate, conc = limits.rates[scope], limits.concs[scope]
        if not queue_allows() then break end
        local tscope, trate, tconc, fits = tenant_allows(f[4])
        if not fits then
          -- its tenant is at its limit: passed over, left in place
        elseif not suspect_allows(ids, tonumber(f[2]) or 0) then
          -- passed over, left in place
        elseif conc and live[scope] >= conc then
          holds[#holds + 1] = {id, task_key, scope, now + HELD_RECHECK_MS, 'conc'}
        elseif rate and f[3] == scope and rate_ready_at(gcra, scope, rate, now) > now then
          local slot = math.ceil(rate_ready_at(gcra, scope, rate, now))
          holds[#holds + 1] = {id, task_key, scope, slot, 'rate'}
        elseif rate and ((f[3] ~= scope and rate_has_line(gcra, scope, now))
                         or rate_ready_at(gcra, scope, rate, now) > now) then
          holds[#holds + 1] = {id, task_key, scope, rate_slot(gcra, scope, rate, now), 'rate'}
        else
          admit(id, scope, rate, tscope, trate, tconc)
        end
        if taken_alone or #holds >= MAX_HELD or #ids >= max_tasks then break end
      end
    end
    if #holds >= MAX_HELD then break end
  end
  if #damage > 0 then return ids, {}, 0, 0 end
  for _, h in ipairs(holds) do  -- a line just made waits for its next permit too
    local rate = h[5] == 'rate' and limits.rates[h[3]]
    local wait = rate and rate_ready_at(gcra, h[3], rate, now) - now or 0
    note_permit(wait)
  end
  gcra_save(gcra)
  for _, h in ipairs(holds) do
    hold(base, pending, h[1], h[2], h[3], h[4], events, events_maxlen, h[5])
  end
  if #holds > 0 then arm_timer(base .. 'timer') end
  for _, l in ipairs(looked) do rcall('ZREM', l[1], l[2]) end
  for _, id in ipairs(from_held) do rcall('ZREM', base .. 'scheduled', id) end
  return ids, slot_adds, stopped, math.ceil(next_permit)
end

local ids, slot_adds, stopped, next_permit = nil, {}, 0, 0
if limits then
  ids, slot_adds, stopped, next_permit = select_limited()
else
  ids = select_plain()
end
if #damage > 0 then return damaged() end
if #ids > 0 then rcall('ZREM', pending, unpack(ids)) end
for _, add_slot in ipairs(slot_adds) do rcall('ZADD', add_slot[1], now, add_slot[2]) end
local out, orphans, taken, waits = {passed, stopped, next_permit}, 0, {}, {}
for _, id in ipairs(ids) do
  local task_key = base .. 'task:' .. id
  if rcall('EXISTS', task_key) == 0 then
    orphans = orphans + 1
  else
    local attempt = bump(task_key, 'attempts')
    rcall('HSET', task_key, 'status', 'processing', 'worker', worker_id, 'started_at', now,
          'heartbeat_at', now, 'lease_until', deadline,
          'h:' .. attempt, worker_id .. '|' .. now)
    rcall('ZADD', active, deadline, id)
    if limits then rcall('HDEL', task_key, 'held', 'held_by') end
    local f = rcall('HMGET', task_key, 'name', 'args', 'kwargs', 'timeout', 'failures',
                    'max_retries', 'meta', 'lost', 'tenant', 'band', 'seq', 'run_at')
    local ready = tonumber(f[12])  -- every path to pending sets run_at; garbage waits 0
    if ready then waits[#waits + 1] = ready < now and now - ready or 0 end
    if fair then
      local band = whole(f[10], 100)
      if band > 200 then band = 100 end
      taken[band] = math.max(taken[band] or 0, whole(f[11], 0))
    end
    out[#out + 1] = id
    out[#out + 1] = attempt
    for j = 1, 10 do out[#out + 1] = f[j] or '' end
    emit(events, events_maxlen, id, 'processing')
  end
end
if orphans > 0 then add(stats, 'orphans', orphans) end
if fair then advance_clocks(base, pending, band_width, taken) end
count_waits(base, now, waits)
return out
