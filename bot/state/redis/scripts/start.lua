-- ARGV: P, now, per minute, turn id. '0' if a request may start now (counted), else seconds to
-- wait until the first counted request leaves the minute. Segmind counts a request when it
-- arrives, by its answer at the latest: each is dated by its answer (the line re-dates it then,
-- bot.state.redis.line.SharedLine.answered), and until it has one, a minute ahead of its start.
local key = P..'starts'
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - MINUTE)
if redis.call('ZCARD', key) < tonumber(ARGV[3]) then
  redis.call('ZADD', key, now + MINUTE, ARGV[4])
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return exact(tonumber(oldest[2]) + MINUTE - now)
