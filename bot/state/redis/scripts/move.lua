-- ARGV: P, id, fence, now, expected state ('' = any), fields (JSON), blobs...
-- Returns 1 if written, 0 if the job is missing or in another state, -1 if the fence is not
-- the job's (another process took it over).
local id, fence, now, expected = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if fenced_out(key, fence) then return -1 end
if expected ~= '' and redis.call('HGET', key, 'state') ~= expected then return 0 end
apply(key, id, ARGV[6], 7, now)
return 1
