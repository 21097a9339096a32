--[[ submit_workflow: write a whole workflow (every node, edge and argument) in its own
slot, in one step: it exists whole or not at all. Its tasks are then created in their
queues (enqueue_tasks, waiting ones first) and `materialized` is set (mark_materialized
below is the same script with no nodes).

KEYS[1] info  KEYS[2] spec  KEYS[3] parents  KEYS[4] args  KEYS[5] remaining
KEYS[6] state  KEYS[7] results  KEYS[8] tasks  (the workflow's keys: workflow.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] workflow id  ARGV[4] name
ARGV[5] on_failure ('wait' or 'cancel')  ARGV[6] total nodes ('' = only mark it
materialized)
ARGV[7..] 6 values per node: key, spec JSON (workflow.lua), how many parents, args
          JSON, parents JSON ('' = none), the task as JSON [storage queue,
          enqueue_tasks values...] ('' = an existing task)

Returns: {'created'}, or {'exists', status, materialized} when a workflow with this id
exists (the same submission sent again: nothing changed; materialized '1' once its
tasks all exist), {'marked'} for a mark (the tasks kept for resuming are dropped),
{'missing'} for a mark of an unknown workflow. When a key has the wrong type: the damage, and nothing
changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "workflow"

local info, spec, parents, args = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local remaining, state, results, tasks = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local base = ARGV[1]  -- the workflow's key base (its keys come as KEYS)
local wf = {info = info, spec = spec, parents = parents, args = args, remaining = remaining, state = state, results = results, tasks = tasks}
local now, workflow_id, name, on_failure = now_ms(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local total = ARGV[6]  -- '' = only mark it materialized
local FIRST_NODE = 7  -- ARGV[7..]: 6 values per node
local PER_NODE = 6

check_workflow_keys(wf)
if #damage > 0 then return damaged() end
if total == '' then
  if rcall('EXISTS', info) == 0 then return {'missing'} end
  rcall('HSET', info, 'materialized', 1)
  rcall('DEL', tasks)
  return {'marked'}
end
local before = rcall('HGET', info, 'status')
if before then return {'exists', before, rcall('HGET', info, 'materialized') or ''} end
for i = FIRST_NODE, #ARGV, PER_NODE do
  local node, node_spec, parent_count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]) or 0
  local node_args, node_parents, node_task = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  rcall('HSET', spec, node, node_spec)
  rcall('HSET', args, node, node_args)
  if node_parents ~= '' then rcall('HSET', parents, node, node_parents) end
  if node_task ~= '' then rcall('HSET', tasks, node, node_task) end
  rcall('HSET', remaining, node, parent_count)
  if parent_count > 0 then
    rcall('HSET', state, node, 'waiting')
  else
    rcall('HSET', state, node, 'released')
  end
end
rcall('HSET', info, 'id', workflow_id, 'name', name, 'status', 'running', 'on_failure',
      on_failure, 'created_at', now, 'finished_at', '', 'total', total, 'completed', 0,
      'dead', 0, 'cancelled', 0, 'materialized', 0)
return {'created'}
