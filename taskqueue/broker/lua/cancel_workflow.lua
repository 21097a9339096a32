--[[ cancel_workflow: cancel a workflow: nothing more of it is started, and the tasks
it has not finished are returned for the caller to cancel in their queues
(cancel_nodes.lua; a running one is asked to stop). Dead tasks stay in the dead-letter
queue; a completed workflow cannot be cancelled.

KEYS[1] info  KEYS[2] spec  KEYS[3] parents  KEYS[4] args  KEYS[5] remaining
KEYS[6] state  KEYS[7] results  KEYS[8] tasks  (the workflow's keys: workflow.lua)

ARGV[1] base  ARGV[2] now ms ('' = Redis TIME)  ARGV[3] result TTL s

Returns: {status before, stop} where stop = 2 values per task to cancel (storage
queue, id); {'missing', {}} for an unknown workflow. When a key has the wrong type:
the damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"
--- @include "workflow"

local info, spec, parents, args = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local remaining, state, results, tasks = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local base = ARGV[1]  -- the workflow's key base (its keys come as KEYS)
local wf = {info = info, spec = spec, parents = parents, args = args, remaining = remaining, state = state, results = results, tasks = tasks}
local now, result_ttl = now_ms(ARGV[2]), tonumber(ARGV[3])

check_workflow_keys(wf)
if #damage > 0 then return damaged() end
local before = rcall('HGET', info, 'status')
if not before then return {'missing', {}} end
if before == 'completed' then return {before, {}} end
rcall('HSET', info, 'status', 'cancelled')
local stop = {}
local all = rcall('HGETALL', state)
for j = 1, #all, 2 do
  if open(all[j + 1]) then
    local s = spec_of(wf, all[j])
    if s then
      stop[#stop + 1] = s.q
      stop[#stop + 1] = s.id
    end
  end
end
settle(wf, now, result_ttl)
return {before, stop}
