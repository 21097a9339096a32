--[[ release_lock: delete a lock key only while it still holds our token (it may have
expired and been taken by another process in between).
KEYS[1] lock        the lock key (a string: SET NX PX)
ARGV[1] token       the value we set when we took it
Returns: 1 released, 0 not ours (or gone)
Errors: none (a lock key of another type is not ours: 0)
]]
local lock = KEYS[1]
local token = ARGV[1]

if redis.call('TYPE', lock).ok ~= 'string' then return 0 end
if redis.call('GET', lock) ~= token then return 0 end
redis.call('DEL', lock)
return 1
