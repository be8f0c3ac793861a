-- ARGV: P, holder, now, lease seconds, ids... Extends the leases this holder still has.
local until_ = tostring(tonumber(ARGV[3]) + tonumber(ARGV[4]))
local renewed = 0
for i = 5, #ARGV do
  local key = P..'job:'..ARGV[i]
  if redis.call('HGET', key, 'holder') == ARGV[2] then
    redis.call('HSET', key, 'lease_until', until_)
    renewed = renewed + 1
  end
end
return renewed
