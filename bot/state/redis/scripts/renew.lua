-- ARGV: P, holder, now, lease seconds, then (id, fence) pairs. Extends the leases this holder
-- still has by those fences; returns the ids it no longer has (taken over, or gone).
local until_ = exact(tonumber(ARGV[3]) + tonumber(ARGV[4]))
local lost = {}
for i = 5, #ARGV, 2 do
  local key = P..'job:'..ARGV[i]
  if redis.call('HGET', key, 'holder') == ARGV[2] and not fenced_out(key, ARGV[i + 1]) then
    redis.call('HSET', key, 'lease_until', until_)
  elseif redis.call('EXISTS', key) == 1 and fenced_out(key, ARGV[i + 1]) then
    table.insert(lost, ARGV[i])
  end
end
return lost
