-- ARGV: P, id, holder, now, lease seconds, state it must be in ('' = any).
-- 1 if this process now holds the job.
local id, me, now, lease = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_write(key, me, now) then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', key, 'state') ~= ARGV[6] then return 0 end
redis.call('HSET', key, 'holder', me, 'lease_until', tostring(now + lease))
return 1
