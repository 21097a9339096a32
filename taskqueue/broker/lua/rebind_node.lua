--[[ rebind_node: a node's task was not created because its idempotency key named an
existing task: that task becomes the node's (the workflow waits for it, and it
reports to the workflow through watch_task).

KEYS[1] info  KEYS[2] spec  KEYS[3] parents  KEYS[4] args  KEYS[5] remaining
KEYS[6] state  KEYS[7] results  KEYS[8] tasks  (the workflow's keys: workflow.lua)

ARGV[1] base  ARGV[2] node  ARGV[3] the existing task's id

Returns: 1 rebound, 0 no such node. When a key has the wrong type: the damage, and
nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "workflow"

local info, spec, parents, args = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local remaining, state, results, tasks = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local base = ARGV[1]  -- the workflow's key base (its keys come as KEYS)
local wf = {info = info, spec = spec, parents = parents, args = args, remaining = remaining, state = state, results = results, tasks = tasks}
local node, task_id = ARGV[2], ARGV[3]

check_workflow_keys(wf)
if #damage > 0 then return damaged() end
local s = spec_of(wf, node)
if not s then return 0 end
s.id = task_id
rcall('HSET', spec, node, cjson.encode(s))
rcall('HSET', state, node, 'released')
return 1
