-- ARGV: P, slot, now, lease, limit. 1 if the slot is (now) this holder's. A slot is named
-- 'holder:suffix'; those of a process without a heartbeat are freed (it died).
local key = P..'slots'
local now = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
for _, slot in ipairs(redis.call('ZRANGE', key, 0, -1)) do
  local holder = string.match(slot, '^([^:]+):')
  if holder and redis.call('EXISTS', P..'alive:'..holder) == 0 then redis.call('ZREM', key, slot) end
end
if redis.call('ZSCORE', key, ARGV[2]) or redis.call('ZCARD', key) < tonumber(ARGV[5]) then
  redis.call('ZADD', key, now + tonumber(ARGV[4]), ARGV[2])
  return 1
end
return 0
