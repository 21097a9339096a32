--[[ submit_workflow: write a whole workflow (every node, edge and argument) in its own
slot, in one step: it exists whole or not at all. Its tasks are then created in their
queues (enqueue_tasks, waiting ones first) and `materialized` is set (mark_materialized
below is the same script with no nodes).

KEYS[1] info  KEYS[2] spec  KEYS[3] parents  KEYS[4] args  KEYS[5] remaining
KEYS[6] state  KEYS[7] results  KEYS[8] tasks  (the workflow's keys: workflow.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] workflow id  ARGV[4] name
ARGV[5] on_failure ('wait' or 'cancel')  ARGV[6] total nodes ('' = only mark it
materialized)
ARGV[7] the tasks to create, as JSON {node: [storage queue, enqueue_tasks values...]}
        ('' = none): kept whole in :tasks (field 'all') until they all exist, for
        resume_workflow; never decoded here
ARGV[8]  how many nodes have parents
ARGV[9..] 5 values per node with parents: key, spec JSON (workflow.lua), how many
          parents, args JSON, parents JSON; then 2 values per root: key, spec JSON (a
          root's args are its task's: it is never released by its workflow)

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
local tasks_json = ARGV[7]
local WITH_PARENTS = tonumber(ARGV[8]) or 0
local FIRST_NODE = 9  -- ARGV[9..]: 5 values per node with parents, then 2 per root
local PER_NODE = 5
local FIRST_ROOT = math.min(FIRST_NODE + PER_NODE * WITH_PARENTS, #ARGV + 1)
local PAIRS_PER_CALL = 500  -- field-value pairs per HSET (unpack has a limit)

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
-- The hashes are written a few hundred fields per HSET: a call per field was most of
-- the script's time for 10,000 nodes.
local writes = {}
local function flush(key)
  if writes[key] and #writes[key] > 0 then rcall('HSET', key, unpack(writes[key])) end
  writes[key] = {}
end
local function put(key, field, value)
  local pairs_of = writes[key] or {}
  writes[key] = pairs_of
  pairs_of[#pairs_of + 1] = field
  pairs_of[#pairs_of + 1] = value
  if #pairs_of >= 2 * PAIRS_PER_CALL then flush(key) end
end
for i = FIRST_NODE, FIRST_ROOT - PER_NODE, PER_NODE do
  local node, node_spec, parent_count = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]) or 0
  local node_args, node_parents = ARGV[i + 3], ARGV[i + 4]
  put(spec, node, node_spec)
  put(remaining, node, parent_count)
  put(args, node, node_args)
  put(parents, node, node_parents)
  put(state, node, 'waiting')
end
for i = FIRST_ROOT, #ARGV - 1, 2 do
  local node, node_spec = ARGV[i], ARGV[i + 1]
  put(spec, node, node_spec)
  put(state, node, 'released')
end
for _, key in ipairs({spec, args, parents, remaining, state}) do flush(key) end
if tasks_json ~= '' then rcall('HSET', tasks, 'all', tasks_json) end
rcall('HSET', info, 'id', workflow_id, 'name', name, 'status', 'running', 'on_failure',
      on_failure, 'created_at', now, 'finished_at', '', 'total', total, 'completed', 0,
      'dead', 0, 'cancelled', 0, 'materialized', 0)
return {'created'}
