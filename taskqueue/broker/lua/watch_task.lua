--[[ watch_task: make an existing task tell a workflow of its changes (a task enqueued
with depends_on= waits for it): add (workflow, node) to its record's notify list, and
say where it stands now, so that a task that finished already is applied at once.

KEYS[1] events (not written: names the queue's slot)

ARGV[1] base  ARGV[2] task id  ARGV[3] workflow id  ARGV[4] node

Returns: {status, result JSON ('' unless completed)}; {'missing', ''} when there is
no such task. When its record has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local events = KEYS[1]  -- its type is checked (check_keys); nothing is written there
local base, id, workflow, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local task_key = base .. 'task:' .. id

check_keys()
check(task_key, 'hash')
if #damage > 0 then return damaged() end
local cur = rcall('HMGET', task_key, 'status', 'result', 'notify')
if not cur[1] then return {'missing', ''} end
local ok, targets = pcall(cjson.decode, cur[3] or '')
if not ok or type(targets) ~= 'table' then targets = {} end
local known = false
for _, pair in ipairs(targets) do
  if type(pair) == 'table' and pair[1] == workflow and pair[2] == node then known = true end
end
if not known then
  targets[#targets + 1] = {workflow, node}
  rcall('HSET', task_key, 'notify', cjson.encode(targets))
end
local result = ''
if cur[1] == 'completed' then result = cur[2] or 'null' end
return {cur[1], result}
