-- ARGV: P, shelf, name key, record (JSON), limit, pose ('' for none)
-- A new character on its shelf in one step: -1 if the name is taken there, -2 if the shelf is
-- full, else kept (with its pose beside it) and 1.
local shelf, key, record, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local hash = P..'characters:'..shelf
if redis.call('HEXISTS', hash, key) == 1 then return -1 end
if redis.call('HLEN', hash) >= limit then return -2 end
redis.call('HSET', hash, key, record)
if ARGV[6] ~= '' then redis.call('SET', P..'character:'..shelf..':'..key..':pose', ARGV[6]) end
return 1
