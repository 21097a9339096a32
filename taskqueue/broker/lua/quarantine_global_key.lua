--[[ quarantine_global_key: move a global key of the wrong type out of the way (the
queue list, the worker registry, a worker's entry, the periodic state, the archive
lock), keeping it for the quarantine TTL; the workers and web processes rebuild what
they need (nothing depends on these keys for correctness). See broker/damage.py.

KEYS[1] key: the global key  KEYS[2] target: where to move it (same cluster slot: keys.py)

ARGV[1] expected type: the type it must have  ARGV[2] quarantine TTL s

Returns: the type it had when it was moved; '' when it had the right type (or was
missing) and was left alone.
Errors: none.
]]

local key, target = KEYS[1], KEYS[2]
local expected_type, quarantine_ttl = ARGV[1], ARGV[2]

local found = redis.call('TYPE', key)['ok']
if found == 'none' or found == expected_type then return '' end
redis.call('RENAME', key, target)
redis.call('EXPIRE', target, quarantine_ttl)
return found
