-- ARGV: P, slot, now, lease, limit. 1 if the slot is (now) this holder's.
local key = P..'slots'
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZSCORE', key, ARGV[2]) or redis.call('ZCARD', key) < tonumber(ARGV[5]) then
  redis.call('ZADD', key, now + tonumber(ARGV[4]), ARGV[2])
  return 1
end
return 0
