--[[ complete_tasks: record the results of finished attempts (a batch, one round trip).
Fenced: a report is accepted only if the task is still processing under that attempt.
The recorded ones count in the queue's completed of this minute and this hour (the
history: common.lua's count_minute).

KEYS[1] active  KEYS[2] completed  KEYS[3] events  KEYS[4] stats  KEYS[5] index

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s
ARGV[4] events MAXLEN  ARGV[5..] 3 values per task: id, attempt, result JSON; then, only
when tracing is on (so the count of values is one more than 4 + 3 per task), one last
value: the attempts' span contexts (W3C traceparent), space-separated in the tasks'
order, '-' for a task without one. A task recorded keeps its context in its record's
`completed_span` (broker/trace_ops.py), for the spans of workflow tasks to link to.

Returns: one value per task: 1 recorded, 2 recorded and its workflows told (entries in
the queue's outbox, common.lua's notify), 0 refused (stale attempt: the lease was lost).
A workflow whose keys share the queue's slot hears of a completion that only counts in
this script itself, without an entry (in_place.lua): 1.
When a key it would touch has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "in_place"

local active, completed, events, stats, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, now, result_ttl = ARGV[1], now_ms(ARGV[2]), tonumber(ARGV[3])
local events_maxlen = ARGV[4]
local FIRST_TASK = 5  -- ARGV[5..]: 3 values per task, then maybe the span contexts
local traced = (#ARGV - FIRST_TASK + 1) % 3 == 1
local last_task = traced and #ARGV - 1 or #ARGV
local spans_text = traced and ARGV[#ARGV] or ''

check_keys()
check(base .. 'm:' .. math.floor(now / 60000), 'hash')
check_shared(base)
for i = FIRST_TASK, last_task, 3 do check(base .. 'task:' .. ARGV[i], 'hash') end
if #damage > 0 then return damaged() end
local spans = {}
for span in string.gmatch(spans_text, '%S+') do spans[#spans + 1] = span end
local out, done = {}, 0
local members  -- the in-place completions' batch (in_place.lua), made when first needed
local function in_place(workflow, node, id, result)
  members = members or in_place_batch(base)
  return members.complete(workflow, node, id, result)
end
for i = FIRST_TASK, last_task, 3 do
  local id, attempt, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'attempts', 'notify', 'counted')
  if cur[1] == 'processing' and cur[2] == attempt then
    rcall('ZREM', active, id)
    rcall('HSET', task_key, 'status', 'completed', 'finished_at', now, 'result', result,
          'lease_until', '')
    close_attempt(task_key, attempt, now, 'completed')
    local span = spans[(i - FIRST_TASK) / 3 + 1]
    if span and span ~= '-' then rcall('HSET', task_key, 'completed_span', span) end
    rcall('EXPIRE', task_key, result_ttl + 3600)
    rcall('ZADD', completed, now, id)
    emit(events, events_maxlen, id, 'completed')
    done = done + 1
    out[#out + 1] = 1
    if notify(base, task_key, id, 'completed', result, cur[3], in_place) > 0 then
      out[#out] = 2
    end
    if cur[4] == '1' then count_tenant(base, task_key, 'completed', cur[4]) end
  else
    out[#out + 1] = 0
  end
end
if members then members.flush() end
if done > 0 then
  add(stats, 'completed', done)
  count_minute(base, now, 'completed', done)
end
trim_finished(base, completed, index, now - result_ttl * 1000)
return out
