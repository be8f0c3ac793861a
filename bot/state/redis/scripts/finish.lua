-- ARGV: P, id, fence, now, ledger entry (JSON), fields (JSON), at, where the entry counts (the
-- server, or 0 for direct messages), keep seconds, blobs...
-- The job's end and its ledger entry in one step; the job is forgotten `keep` seconds later.
-- Its fence stays: a process taken over before the end cannot rewrite the finished job.
local id, fence, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local entry, at, guild, keep = ARGV[5], ARGV[7], ARGV[8], tonumber(ARGV[9])
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if fenced_out(key, fence) then return -1 end
local old = redis.call('HGET', P..'ledger:entries', id)
if old then
  redis.call('ZREM', P..'ledger:all', old)
  redis.call('ZREM', P..'ledger:guild:'..guild, old)
end
redis.call('HSET', P..'ledger:entries', id, entry)
redis.call('ZADD', P..'ledger:all', at, entry)
redis.call('ZADD', P..'ledger:guild:'..guild, at, entry)
-- A member's delivered sheets in a place, for /sheets (RedisStore.sheets_of); kept as the job.
local ended = cjson.decode(entry)
if ended.outcome == DONE then
  local sheets = P..'sheets:'..guild..':'..ended.user_id
  redis.call('ZADD', sheets, at, id)
  redis.call('EXPIRE', sheets, keep)
end
apply(key, id, ARGV[6], 10, now)
redis.call('HDEL', key, 'holder', 'lease_until')
for _, part in ipairs({'', ':pose', ':sheet'}) do redis.call('EXPIRE', key..part, keep) end
local state = redis.call('HGET', key, 'state')
redis.call('ZREMRANGEBYSCORE', P..'state:'..state, '-inf', now - keep)
return 1
