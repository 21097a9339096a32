--[[ workflow: helpers of the scripts that run in a workflow's own slot (its keys carry
the hash tag {wf:<id>}, keys.py's WorkflowKeys). Every workflow script takes the same
KEYS, in this order, and names them in a table `wf` that these helpers take:

KEYS[1] info       HASH  id, name, status, on_failure, created_at, finished_at, total,
                         completed, dead, cancelled, materialized
KEYS[2] spec       HASH  node -> JSON {q: storage queue, id: task id, c: [children],
                         f: how its parents' results reach it: 'none', 'one', 'list'}
KEYS[3] parents    HASH  node -> JSON [parent nodes], in order (nodes with parents only)
KEYS[4] args       HASH  node -> its own args JSON (the parents' results go in front;
                         nodes with parents only: a root is never released)
KEYS[5] remaining  HASH  node -> parents not yet completed (nodes with parents only)
KEYS[6] state      HASH  node -> waiting, released, completed, dead, cancelled
KEYS[7] results    HASH  node -> result JSON of a completed node
KEYS[8] tasks      HASH  node -> [storage queue, the task's enqueue_tasks values]: kept
                         until the tasks exist in their queues (materialized), so a
                         submission cut short is finished by whoever resumes it
]]
local function decoded(text, default)
  if not text then return default end
  local ok, value = pcall(cjson.decode, text)
  if ok and type(value) == 'table' then return value end
  return default
end

-- A node's spec from its JSON text (nil when missing or malformed).
local function spec_from(text)
  local s = decoded(text, nil)
  if s == nil or type(s.q) ~= 'string' or type(s.id) ~= 'string' then return nil end
  if type(s.c) ~= 'table' then s.c = {} end
  return s
end

local function spec_of(wf, node)
  return spec_from(rcall('HGET', wf.spec, node))
end

-- JSON text of a list of results, in the order of `nodes` (HMGET in slices: Lua's
-- unpack has a limit).
local function results_list(wf, nodes)
  local parts = {}
  for i = 1, #nodes, 1000 do
    local slice = {}
    for j = i, math.min(i + 999, #nodes) do slice[#slice + 1] = nodes[j] end
    local got = rcall('HMGET', wf.results, unpack(slice))
    for j = 1, #slice do parts[#parts + 1] = got[j] or 'null' end
  end
  return '[' .. table.concat(parts, ',') .. ']'
end

-- The args a released node runs with: its own, after its parents' results (one result
-- for 'one', the list of all of them for 'list'), as Celery's chains and chords do.
local function args_for(wf, node, feed)
  local own = rcall('HGET', wf.args, node) or '[]'
  if feed ~= 'one' and feed ~= 'list' then return own end
  local list = decoded(rcall('HGET', wf.parents, node), {})
  local value
  if feed == 'one' then
    value = rcall('HGET', wf.results, list[1] or '') or 'null'
  else
    value = results_list(wf, list)
  end
  local rest = string.match(own, '^%s*%[%s*(.-)%s*$')
  if rest == nil or rest == ']' or rest == '' then return '[' .. value .. ']' end
  return '[' .. value .. ',' .. rest
end

-- Whether a node can still be started or stopped by the workflow.
local function open(st)
  return st == 'waiting' or st == 'released'
end

local WORKFLOW_KINDS = {'info', 'spec', 'parents', 'args', 'remaining', 'state', 'results',
                        'tasks'}

local function check_workflow_keys(wf)
  for _, kind in ipairs(WORKFLOW_KINDS) do check(wf[kind], 'hash') end
end

-- Once every node is completed, or finished without a dead one: the workflow's final
-- status, its keys kept RESULT_TTL more. Returns the new status when it finished now.
local function settle(wf, now, result_ttl)
  local info = wf.info
  local c = rcall('HMGET', info, 'status', 'total', 'completed', 'dead', 'cancelled',
                  'finished_at')
  local status, total = c[1], whole(c[2], 0)
  local done, dead, cancelled = whole(c[3], 0), whole(c[4], 0), whole(c[5], 0)
  local new = status
  if status ~= 'cancelled' then
    if dead > 0 then new = 'blocked' else new = 'running' end
  end
  if done >= total then
    new = 'completed'
  elseif done + cancelled >= total and dead == 0 then
    new = 'cancelled'
  end
  if new ~= status then rcall('HSET', info, 'status', new) end
  local finished = (new == 'completed' or (new == 'cancelled' and done + cancelled >= total))
  if finished and (c[6] == false or c[6] == '') then
    rcall('HSET', info, 'finished_at', now)
    for _, kind in ipairs(WORKFLOW_KINDS) do rcall('EXPIRE', wf[kind], result_ttl) end
    return new
  end
  return ''
end
