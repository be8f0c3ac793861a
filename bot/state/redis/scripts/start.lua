-- ARGV: P, now, per minute, start id. '0' if a request may start now (counted), else seconds to
-- wait until the oldest start of the last minute leaves it.
local key = P..'starts'
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - MINUTE)
if redis.call('ZCARD', key) < tonumber(ARGV[3]) then
  redis.call('ZADD', key, now, ARGV[4])
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + MINUTE - now)
