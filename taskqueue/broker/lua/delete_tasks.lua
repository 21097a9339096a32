--[[ delete_tasks: delete the records of finished tasks (completed, dead, cancelled),
of those statuses the caller allows (a DLQ purge: dead only). Tasks in any other status
are left alone.

KEYS[1] completed  KEYS[2] dead  KEYS[3] cancelled  KEYS[4] index  KEYS[5] errors
KEYS[6] events

ARGV[1] base  ARGV[2] events MAXLEN
ARGV[3] the statuses that may be deleted, comma-separated (of completed, dead, cancelled)
ARGV[4..] task ids

Returns: one value per id: its status before (one of the allowed finished statuses:
deleted; anything else, or 'missing', was left alone). When a key it would touch has the wrong type: the damage, and nothing changed
(common.lua).
Errors: none.
]]
--- @include "common"

local completed, dead, cancelled = KEYS[1], KEYS[2], KEYS[3]
local index, errors, events = KEYS[4], KEYS[5], KEYS[6]
local base, events_maxlen, allowed = ARGV[1], ARGV[2], ARGV[3]
local FIRST_ID = 4  -- ARGV[4..]: task ids

local finished = {completed = completed, dead = dead, cancelled = cancelled}
local sets = {}
for status in string.gmatch(allowed, '[a-z]+') do sets[status] = finished[status] end
check_keys()
for i = FIRST_ID, #ARGV do check(base .. 'task:' .. ARGV[i], 'hash') end
check_shared(base)
if #damage > 0 then return damaged() end
local out = {}
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local task_key = base .. 'task:' .. id
  local cur = rcall('HMGET', task_key, 'status', 'error_type')
  local status = cur[1] or 'missing'
  if sets[status] then
    if status == 'dead' then uncount_error(errors, cur[2]) end
    rcall('ZREM', sets[status], id)
    rcall('ZREM', index, id)
    if status ~= 'completed' then notify(base, task_key, id, 'deleted') end
    count_tenant(base, task_key, 'deleted')
    rcall('DEL', task_key)
    emit(events, events_maxlen, id, 'deleted')
  end
  out[#out + 1] = status
end
return out
