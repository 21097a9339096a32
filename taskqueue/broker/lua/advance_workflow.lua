--[[ advance_workflow: apply what a workflow's tasks reported through their queues'
outboxes (common.lua's notify): a completion counts once per parent, whatever number
of times it is applied, and returns the children whose parents have now all
completed. Applying the same entries again (a worker died before deleting them, or two
workers applied them at once) changes nothing and returns the same children, which
start_waiting starts exactly once.

KEYS[1] info  KEYS[2] spec  KEYS[3] parents  KEYS[4] args  KEYS[5] remaining
KEYS[6] state  KEYS[7] results  KEYS[8] tasks  (the workflow's keys: workflow.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s (kept that long
        after the workflow finished)
ARGV[4..] 4 values per entry: node, task id, status ('completed', 'dead', 'cancelled',
          'requeued', 'waiting' (requeued back to waiting), 'deleted'), result JSON
          (completed)

Returns: {start, stop, finished}: start = 3 values per task to start (storage queue,
id, args JSON), stop = 2 values per task to cancel (storage queue, id), finished = the
workflow's final status when it finished now, else ''. Entries for an unknown
workflow, or whose task id is not the node's, are ignored. When a key has the wrong
type: the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "workflow"

local info, spec, parents, args = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local remaining, state, results, tasks = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local base = ARGV[1]  -- the workflow's key base (its keys come as KEYS)
local wf = {info = info, spec = spec, parents = parents, args = args, remaining = remaining, state = state, results = results, tasks = tasks}
local now, result_ttl = now_ms(ARGV[2]), tonumber(ARGV[3])
local FIRST_ENTRY = 4

check_workflow_keys(wf)
if #damage > 0 then return damaged() end
local status = rcall('HGET', info, 'status')
if not status then return {{}, {}, ''} end
local start, stop, stopping = {}, {}, {}
local specs, counted = {}, {completed = 0, dead = 0, cancelled = 0}
local SLICE = 1000  -- fields per HMGET (unpack's limit)

-- The entries' nodes are read in one HMGET of their specs and one of their states, and
-- states and results are written in one HSET each, flushed before anything reads them
-- back (args_for reads results; HGETALL every state) and at the end: a batch of
-- entries costs a few calls, not five for each entry.
local spec_texts, states = {}, {}  -- node -> spec JSON / state (false: none) read so far
local state_writes, result_writes = {}, {}  -- field, value, field, value... to write

local function read_ahead()
  local nodes, seen = {}, {}
  for i = FIRST_ENTRY, #ARGV, 4 do
    if not seen[ARGV[i]] then
      seen[ARGV[i]] = true
      nodes[#nodes + 1] = ARGV[i]
    end
  end
  for i = 1, #nodes, SLICE do
    local slice = {unpack(nodes, i, math.min(i + SLICE - 1, #nodes))}
    local texts, sts = rcall('HMGET', spec, unpack(slice)), rcall('HMGET', state, unpack(slice))
    for j, node in ipairs(slice) do
      spec_texts[node], states[node] = texts[j], sts[j]
    end
  end
end

local function state_of(node)
  local st = states[node]
  if st == nil then
    st = rcall('HGET', state, node)
    states[node] = st
  end
  return st
end

local function set_state(node, value)
  states[node] = value
  state_writes[#state_writes + 1] = node
  state_writes[#state_writes + 1] = value
end

local function flush()
  if #state_writes > 0 then hset_all(state, state_writes); state_writes = {} end
  if #result_writes > 0 then hset_all(results, result_writes); result_writes = {} end
end

-- A node's spec, decoded once per call (a chord's callback is every member's child).
local function spec_node(node)
  local s = specs[node]
  if s == nil then
    local text = spec_texts[node]
    if text == nil then text = rcall('HGET', spec, node) end
    s = spec_from(text) or false
    specs[node] = s
  end
  return s or nil
end

-- A released node's task, to start: its args read after the results are written.
local function release(node, s)
  set_state(node, 'released')
  flush()
  start[#start + 1] = s.q
  start[#start + 1] = s.id
  start[#start + 1] = args_for(wf, node, s.f)
end

local function stop_node(node)
  if stopping[node] then return end
  local s = spec_node(node)
  if s and open(state_of(node)) then
    stopping[node] = true
    stop[#stop + 1] = s.q
    stop[#stop + 1] = s.id
  end
end

-- Counted in the info hash once, at the end of the call.
local function count(field, n)
  counted[field] = counted[field] + n
end

-- Leave a terminal state ('dead' or 'cancelled'), uncounting it.
local function leave(st)
  if st == 'dead' or st == 'cancelled' then count(st, -1) end
end

read_ahead()
for i = FIRST_ENTRY, #ARGV, 4 do
  local node, id, what, result = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local s = spec_node(node)
  if s and s.id == id then
    local st = state_of(node)
    local lefts = {}
    if what == 'completed' then
      if st ~= 'completed' then
        leave(st)
        set_state(node, 'completed')
        result_writes[#result_writes + 1] = node
        result_writes[#result_writes + 1] = result
        count('completed', 1)
        for _, child in ipairs(s.c) do lefts[child] = rcall('HINCRBY', remaining, child, -1) end
      end
      if status ~= 'cancelled' then
        for _, child in ipairs(s.c) do
          local left = lefts[child] or tonumber(rcall('HGET', remaining, child) or '1')
          local cs = left <= 0 and spec_node(child)
          if cs and open(state_of(child)) then release(child, cs) end
        end
      end
    elseif what == 'dead' then
      if st ~= 'dead' and st ~= 'completed' then
        leave(st)
        set_state(node, 'dead')
        count('dead', 1)
      end
      if status ~= 'cancelled' and rcall('HGET', info, 'on_failure') == 'cancel' then
        status = 'cancelled'
        rcall('HSET', info, 'status', 'cancelled')
        flush()
        local all = rcall('HGETALL', state)
        for j = 1, #all, 2 do
          if open(all[j + 1]) then stop_node(all[j]) end
        end
      end
    elseif what == 'requeued' then
      if st == 'dead' or st == 'cancelled' then
        leave(st)
        set_state(node, 'released')
      end
    elseif what == 'waiting' then
      leave(st)
      if st ~= 'waiting' then
        set_state(node, 'waiting')
      end
      if tonumber(rcall('HGET', remaining, node) or '1') <= 0 then
        release(node, s)
      elseif status == 'cancelled' then
        stop_node(node)
      end
    elseif what == 'cancelled' or what == 'deleted' then
      if st ~= 'completed' and st ~= 'cancelled' then
        leave(st)
        set_state(node, 'cancelled')
        count('cancelled', 1)
      end
      if st ~= 'completed' then
        for _, child in ipairs(s.c) do stop_node(child) end
      end
    end
  end
end
flush()
for field, n in pairs(counted) do
  if n ~= 0 then rcall('HINCRBY', info, field, n) end
end
return {start, stop, settle(wf, now, result_ttl)}
