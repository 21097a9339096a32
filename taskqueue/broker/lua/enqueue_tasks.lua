--[[ enqueue_tasks: create tasks in one queue (pending, or scheduled when due later, or
waiting for the parents of a workflow node: workflow tasks, docs/workflows.md).

KEYS[1] pending    KEYS[2] scheduled  KEYS[3] seq    KEYS[4] wake
KEYS[5] events     KEYS[6] stats      KEYS[7] index      KEYS[8] timer
KEYS[9] waiting
KEYS[10] limits  KEYS[11] limitset (quotas: 'quota:queue', 'quota:tenant')  KEYS[12] active

ARGV[1] base       ARGV[2] now ms ('' = Redis TIME)
ARGV[3] queue name ARGV[4] idempotency TTL, s
ARGV[5] wake bound ARGV[6] events MAXLEN
ARGV[7] band width (priority.BAND_WIDTH: the pending score, common.lua)
ARGV[8..] 15 values per task: id, band, priority, delay ms, eta ms (0 = none),
          idempotency key ('' = none), name, args JSON, kwargs JSON, max retries,
          timeout s ('' = none), meta JSON ('' = none), waiting ('1': it waits for
          its parents, start_waiting.lua starts it), notify JSON ('' = none:
          the workflows to tell of its changes, common.lua's notify; the first
          one named owns the task: record field 'workflow'), tenant ('' = none:
          its place in line is fair across tenants, common.lua's next_seq)

Quotas (docs/flow-control.md#quotas): when the new tasks would take the queue's backlog
(its unfinished tasks: waiting, scheduled, pending, processing) or a tenant's (counted
in base .. 'tenants', common.lua's count_tenant) past its maximum, nothing is written.
Workflow nodes (a notify value) are not refused: a workflow is created whole.

Returns: 2 values per task: its id (the existing task's id when the idempotency key
was taken) and 1 when created, 0 when it already existed: its idempotency key was
taken, or a task with this id exists (the same enqueue sent again after a lost reply),
which is left exactly as it is. When a key it would touch (the KEYS, the records and
idempotency keys of these tasks) has the wrong type: the damage, and nothing changed
(common.lua).
Errors: 'TQ_QUOTA <queue> <tenant, or - for the queue's own> <backlog> <maximum>'.
]]
--- @include "common"

local pending, scheduled, seq, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local events, stats, index, timer, waiting = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local limits_declared, limits_set, active = KEYS[10], KEYS[11], KEYS[12]
local base, now, queue_name, idempotency_ttl = ARGV[1], now_ms(ARGV[2]), ARGV[3], ARGV[4]
local wake_bound, events_maxlen = ARGV[5], ARGV[6]
local band_width = tonumber(ARGV[7])
local FIRST_TASK = 8  -- ARGV[8..]: 15 values per task
local PER_TASK = 15
-- where each of a task's values is, from its first (ARGV[i + IDEM]: its idempotency key)
local ID, BAND, PRIORITY, DELAY, ETA, IDEM, NAME, ARGS = 0, 1, 2, 3, 4, 5, 6, 7
local KWARGS, MAX_RETRIES, TIMEOUT, META, WAITS, NOTIFY, TENANT = 8, 9, 10, 11, 12, 13, 14

check_keys()
check(base .. 'fair', 'hash')
check_shared(base)
for i = FIRST_TASK, #ARGV, PER_TASK do
  local id, idem = ARGV[i + ID], ARGV[i + IDEM]
  local idem_key = base .. 'idem:' .. idem
  if idem ~= '' and check(idem_key, 'string') then
    local existing = rcall('GET', idem_key)
    if existing then check(base .. 'task:' .. existing, 'hash') end
  end
  check(base .. 'task:' .. id, 'hash')
end
if #damage > 0 then return damaged() end

-- The quotas (the operator's value wins; '' there: none), checked before any write.
local quota = {}
for _, key in ipairs({limits_declared, limits_set}) do
  local v = rcall('HMGET', key, 'quota:queue', 'quota:tenant')
  if v[1] then quota.queue = v[1] end
  if v[2] then quota.tenant = v[2] end
end
quota.queue, quota.tenant = whole(quota.queue, nil), whole(quota.tenant, nil)
if quota.queue or quota.tenant then
  local new_total, new_by_tenant = 0, {}
  for i = FIRST_TASK, #ARGV, PER_TASK do
    local id, idem = ARGV[i + ID], ARGV[i + IDEM]
    local notify_json, t = ARGV[i + NOTIFY], ARGV[i + TENANT]
    local existing = idem ~= '' and rcall('GET', base .. 'idem:' .. idem)
    local fresh = not (existing and rcall('EXISTS', base .. 'task:' .. existing) == 1)
                  and rcall('EXISTS', base .. 'task:' .. id) == 0
    if fresh and notify_json == '' then
      new_total = new_total + 1
      if t ~= '' then new_by_tenant[t] = (new_by_tenant[t] or 0) + 1 end
    end
  end
  if quota.queue and new_total > 0 then
    local backlog = rcall('ZCARD', pending) + rcall('ZCARD', scheduled) + rcall('ZCARD', waiting)
                    + rcall('ZCARD', active)
    if backlog + new_total > quota.queue then
      return redis.error_reply(string.format('TQ_QUOTA %s - %d %d', queue_name, backlog,
                                             quota.queue))
    end
  end
  if quota.tenant then
    for t, n in pairs(new_by_tenant) do
      local backlog = whole(rcall('HGET', base .. 'tenants', t), 0)
      if backlog + n > quota.tenant then
        return redis.error_reply(string.format('TQ_QUOTA %s %s %d %d', queue_name, t, backlog,
                                               quota.tenant))
      end
    end
  end
end

local out, ready, created_n, later = {}, 0, 0, 0
for i = FIRST_TASK, #ARGV, PER_TASK do
  local id, band, idem = ARGV[i + ID], ARGV[i + BAND], ARGV[i + IDEM]
  local delay, eta = tonumber(ARGV[i + DELAY]), tonumber(ARGV[i + ETA])
  local waits, notify_json, tenant = ARGV[i + WAITS], ARGV[i + NOTIFY], ARGV[i + TENANT]
  local created = 1
  if idem ~= '' then
    local idem_key = base .. 'idem:' .. idem
    local existing = rcall('GET', idem_key)
    if existing and rcall('EXISTS', base .. 'task:' .. existing) == 1 then
      id, created = existing, 0
    else
      rcall('SET', idem_key, id, 'EX', idempotency_ttl)
    end
  end
  if created == 1 and rcall('EXISTS', base .. 'task:' .. id) == 1 then
    created = 0
  end
  if created == 1 then
    local run_at = now + delay
    if eta > 0 then run_at = eta end
    local task_seq = next_seq(base, seq, pending, band_width, band, tenant)
    local status = 'pending'
    if waits == '1' then
      status = 'waiting'
      rcall('ZADD', waiting, now, id)
      rcall('HSET', base .. 'task:' .. id, 'waits', 1)
    elseif run_at > now then
      status, later = 'scheduled', later + 1
      rcall('ZADD', scheduled, run_at, id)
    else
      ready = ready + 1
      rcall('ZADD', pending, pending_score(band, task_seq, band_width), id)
    end
    rcall('HSET', base .. 'task:' .. id, 'id', id, 'queue', queue_name, 'status', status,
          'band', band, 'seq', task_seq, 'priority', ARGV[i + PRIORITY],
          'name', ARGV[i + NAME], 'args', ARGV[i + ARGS], 'kwargs', ARGV[i + KWARGS],
          'max_retries', ARGV[i + MAX_RETRIES], 'timeout', ARGV[i + TIMEOUT],
          'meta', ARGV[i + META], 'attempts', 0, 'failures', 0,
          'lost', 0, 'created_at', now, 'run_at', run_at, 'idempotency_key', idem)
    if tenant ~= '' then
      rcall('HSET', base .. 'task:' .. id, 'tenant', tenant)
      count_tenant(base, base .. 'task:' .. id, status, '')
    end
    if notify_json ~= '' then
      local ok, targets = pcall(cjson.decode, notify_json)
      local owner = ''
      if ok and type(targets) == 'table' and type(targets[1]) == 'table' then
        owner = tostring(targets[1][1])
      end
      rcall('HSET', base .. 'task:' .. id, 'notify', notify_json, 'workflow', owner)
    end
    rcall('ZADD', index, now, id)
    created_n = created_n + 1
    emit(events, events_maxlen, id, status)
  end
  out[#out + 1] = id
  out[#out + 1] = created
end
if created_n > 0 then add(stats, 'enqueued', created_n) end
wake_workers(wake, wake_bound, ready)
if later > 0 then arm_timer(timer) end
return out
