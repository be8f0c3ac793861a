-- ARGV: P, the lowest id the counter may be at (the highest this process saw), an epoch to write
-- if none is kept. Redis wiped (restarted without its data, flushed) has no epoch: the first
-- process to notice writes a new one, and every process compares it with the one it knew.
-- The job counter is put back to at least the floor, so an id is never given twice (an old
-- sheet's buttons name its job by id). Returns {epoch, the counter}.
local floor = tonumber(ARGV[2])
local counter = tonumber(redis.call('GET', P..'job:next') or '0')
if counter < floor then
  redis.call('SET', P..'job:next', floor)
  counter = floor
end
local epoch = redis.call('GET', P..'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', P..'epoch', epoch)
end
return {epoch, tostring(counter)}
