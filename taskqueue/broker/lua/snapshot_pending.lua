--[[ snapshot_pending: note which tasks are pending now, under a confirmation token, so
that a purge the operator confirms deletes those tasks and no other (purge_pending.lua
with that token; docs/console.md#exact-bulk-actions). The first `limit` ids of the line
(lowest scores: the next to run) are copied into the confirmation key, which expires
after `ttl` ms. O(limit): the caller keeps `limit` small enough not to block Redis.

KEYS[1] pending  KEYS[2] confirmation (base .. 'confirm:' .. token)

ARGV[1] base  ARGV[2] limit  ARGV[3] ttl ms

Returns: {ids noted, tasks pending}. When a key it would touch has the wrong type: the
damage, and nothing changed (common.lua).
Errors: none.
]]
--- @include "common"

local pending, confirmation = KEYS[1], KEYS[2]
local base, limit, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]

check_keys()
check(confirmation, 'zset')
if #damage > 0 then return damaged() end
local noted = rcall('ZRANGESTORE', confirmation, pending, 0, limit - 1)
if noted > 0 then rcall('PEXPIRE', confirmation, ttl) end
return {noted, rcall('ZCARD', pending)}
