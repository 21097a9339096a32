--[[ complete_tasks: record the results of finished attempts (a batch, one round trip).
Fenced: a report is accepted only if the task is still processing under that attempt.
The recorded ones count in the queue's completed of this minute and this hour (the
history: common.lua's count_minute).

KEYS[1] active  KEYS[2] completed  KEYS[3] events  KEYS[4] stats  KEYS[5] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s
ARGV[4] events MAXLEN  ARGV[5..] 3 values per task: id, attempt, result JSON

Returns: one value per task: 1 recorded, 2 recorded and its workflows told (entries in
the queue's outbox, common.lua's notify), 0 refused (stale attempt: the lease was lost).
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"

local active, completed, events, stats, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, now, result_ttl = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local events_maxlen = ARGV[4]
local FIRST_TASK = 5  -- ARGV[5..]: 3 values per task

check_keys()
check(base .. 'm:' .. math.floor(now / 60000), 'hash')
check_shared(base)
for i = FIRST_TASK, #ARGV, 3 do check(base .. 'task:' .. ARGV[i], 'hash') end
if #damage > 0 then return damaged() end
local out, done = {}, 0
for i = FIRST_TASK, #ARGV, 3 do
  local id, attempt = ARGV[i], ARGV[i + 1]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'attempts', 'notify', 'counted')
  if cur[1] == 'processing' and cur[2] == attempt then
    rcall('ZREM', active, id)
    rcall('HSET', task_key, 'status', 'completed', 'finished_at', now, 'result', ARGV[i + 2],
          'lease_until', '')
    close_attempt(task_key, attempt, now, 'completed')
    rcall('EXPIRE', task_key, result_ttl + 3600)
    rcall('ZADD', completed, now, id)
    emit(events, events_maxlen, id, 'completed')
    done = done + 1
    out[#out + 1] = 1
    if notify(base, task_key, id, 'completed', ARGV[i + 2], cur[3]) > 0 then out[#out] = 2 end
    if cur[4] == '1' then count_tenant(base, task_key, 'completed', cur[4]) end
  else
    out[#out + 1] = 0
  end
end
if done > 0 then
  add(stats, 'completed', done)
  count_minute(base, now, 'completed', done)
end
trim_finished(base, completed, index, now - result_ttl * 1000)
return out
