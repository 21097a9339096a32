--[[ quarantine_global_key: move a global key of the wrong type out of the way (the
queue list, the worker registry, a worker's entry, the periodic state, the archive
lock), keeping it for the quarantine TTL; the workers and web processes rebuild what
they need (nothing depends on these keys for correctness). See broker/damage.py.

KEYS[1] the key  KEYS[2] where to move it (same cluster slot: keys.py)

ARGV[1] the type it must have  ARGV[2] quarantine TTL s

Returns: the type it had when it was moved; '' when it had the right type (or was
missing) and was left alone.
Errors: none.
]]

local found = redis.call('TYPE', KEYS[1])['ok']
if found == 'none' or found == ARGV[1] then return '' end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return found
