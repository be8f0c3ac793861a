-- ARGV: P, id, holder.
local key = P..'job:'..ARGV[2]
if redis.call('HGET', key, 'holder') == ARGV[3] then
  redis.call('HDEL', key, 'holder', 'lease_until')
end
return 1
