-- ARGV: P, id, holder, now, lease seconds, state it must be in ('' = any).
-- The job's fence if this process now holds it (a new one unless it held it already), else 0.
local id, me, now, lease = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_take(key, me, now) then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', key, 'state') ~= ARGV[6] then return 0 end
local mine = redis.call('HGET', key, 'holder') == me
redis.call('HSET', key, 'holder', me, 'lease_until', exact(now + lease))
if mine and redis.call('HEXISTS', key, 'fence') == 1 then
  return tonumber(redis.call('HGET', key, 'fence'))
end
return redis.call('HINCRBY', key, 'fence', 1)
