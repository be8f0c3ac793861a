-- ARGV: P, id, holder, now, expected state ('' = any), fields (JSON), blobs...
-- Returns 1 if written, 0 if the job is missing or in another state, -1 if another holds it.
local id, me, now, expected = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_write(key, me, now) then return -1 end
if expected ~= '' and redis.call('HGET', key, 'state') ~= expected then return 0 end
apply(key, id, ARGV[6], 7, now)
return 1
