-- ARGV: P, id, holder, fence. Lets the job go if this holder still holds it by that fence.
local key = P..'job:'..ARGV[2]
if redis.call('HGET', key, 'holder') == ARGV[3] and not fenced_out(key, ARGV[4]) then
  redis.call('HDEL', key, 'holder', 'lease_until')
end
return 1
