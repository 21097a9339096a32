--[[ in_place: workflow members' completions applied by complete_tasks itself, when the
workflow's keys ({wf:<id>}, workflow.lua) share the queue's slot: notify's third value
(common.lua) says they do, set at submission (broker/workflow_ops.py's _task_row).

A completion is applied in place only when it only counts: the node was released, the
workflow is running, it is not its last open node (with the completed and cancelled
ones, all of them: the workflow would finish), and no child of it waits for it alone.
That is what advance_workflow would do with it (the node completed, its result kept,
a parent fewer for each child, one more completed), without an outbox entry or a
worker's round trips: the members of a group but its last. Anything else (a child to
start, the workflow to finish, a node in another state, a key of the wrong type,
nothing there) is refused, and the change goes to the outbox as before.

One batch per call of complete_tasks: each workflow's info, children's counts and the
type of its results hash are read once, and its writes are made together by
`flush`, at the end of the script. Every read happens before any write, and a refused
completion has written nothing.
]]

-- A reply of redis.pcall that is not an error (a key of the wrong type gives one).
local function fine(reply)
  return not (type(reply) == 'table' and reply.err)
end

-- The batch of the queue whose key base is `base`: {complete = function(workflow id,
-- node, task id, result) -> whether it applied the completion, flush = function(): the
-- writes, once, at the end}.
local function in_place_batch(base)
  local prefix = string.match(base, '^(.*):{[^{}:]*}:$')
  local workflows = {}  -- workflow id -> its batch (below), or false: none applied here

  local function open_workflow(workflow_id)
    local w = workflows[workflow_id]
    if w ~= nil then return w end
    workflows[workflow_id] = false
    if not prefix or #workflow_id > 64 or not string.match(workflow_id, '^[%w%-]+$') then
      return false
    end
    local wf_base = prefix .. ':{wf:' .. workflow_id .. '}:'
    local info = wf_base .. 'info'
    local c = redis.pcall('HMGET', info, 'status', 'completed', 'total', 'cancelled')
    if not fine(c) or c[1] ~= 'running' then return false end
    local kind = redis.pcall('TYPE', wf_base .. 'results')
    if not fine(kind) or (kind.ok ~= 'hash' and kind.ok ~= 'none') then return false end
    w = {
      info = info, spec = wf_base .. 'spec', state = wf_base .. 'state',
      remaining = wf_base .. 'remaining', results = wf_base .. 'results',
      -- settled by advance_workflow once its completed and cancelled nodes are all
      -- of them (workflow.lua's settle): this batch stops one short of that
      finished = whole(c[2], 0) + whole(c[4], 0), total = whole(c[3], 0), applied = 0,
      left = {},  -- child -> parents not yet completed, counting this batch
      taken = {},  -- child -> parents completed in this batch
      done = {},  -- node -> true: completed in this batch
      states = {}, results_of = {},  -- field, value, field, value... to write
    }
    workflows[workflow_id] = w
    return w
  end

  local function complete(workflow_id, node, id, result)
    local w = open_workflow(workflow_id)
    if not w or w.done[node] or w.finished + w.applied + 1 >= w.total then return false end
    if redis.pcall('HGET', w.state, node) ~= 'released' then return false end
    local text = redis.pcall('HGET', w.spec, node)
    if type(text) ~= 'string' then return false end
    local ok, s = pcall(cjson.decode, text)
    if not ok or type(s) ~= 'table' or s.id ~= id or type(s.c) ~= 'table' then return false end
    local parents_of = {}  -- child -> how many of its parents this node is (once, surely)
    for _, child in ipairs(s.c) do
      if type(child) ~= 'string' then return false end
      parents_of[child] = (parents_of[child] or 0) + 1
    end
    for child, n in pairs(parents_of) do
      local left = w.left[child]
      if left == nil then
        local text_left = redis.pcall('HGET', w.remaining, child)
        if not fine(text_left) then return false end
        left = whole(text_left, 0)
        w.left[child] = left
      end
      if left <= n then return false end
    end
    for child, n in pairs(parents_of) do
      w.left[child] = w.left[child] - n
      w.taken[child] = (w.taken[child] or 0) + n
    end
    w.done[node] = true
    w.applied = w.applied + 1
    local states, results_of = w.states, w.results_of
    states[#states + 1] = node
    states[#states + 1] = 'completed'
    results_of[#results_of + 1] = node
    results_of[#results_of + 1] = result
    return true
  end

  local function flush()
    for _, w in pairs(workflows) do
      if w and w.applied > 0 then
        hset_all(w.results, w.results_of)
        hset_all(w.state, w.states)
        for child, n in pairs(w.taken) do rcall('HINCRBY', w.remaining, child, -n) end
        rcall('HINCRBY', w.info, 'completed', w.applied)
      end
    end
  end

  return {complete = complete, flush = flush}
end
