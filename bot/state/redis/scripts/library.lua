-- Shared by every script, after the constants and state sets Python prepends (bot.state.redis.lua):
-- the key prefix, and the indexes a job's state change must keep right.
local P = ARGV[1]

-- A number as text that reads back as the same double: Lua's tostring keeps 14 digits, which
-- cuts a time (seconds since 1970) to a tenth of a millisecond.
local function exact(n)
  return string.format('%.17g', n)
end

local function reindex(id, old, new, user, guild, now)
  if old then redis.call('ZREM', P..'state:'..old, id) end
  -- Live states are listed oldest job first; ended ones by when they ended (to trim them).
  local score = id
  if not SPENDING[new] then score = now end
  redis.call('ZADD', P..'state:'..new, score, id)
  if ACTIVE[new] then
    redis.call('SADD', P..'active:'..user, id)
  else
    redis.call('SREM', P..'active:'..user, id)
  end
  -- Spending is counted per server, direct messages under 0 (the operator's DM budget).
  local place = guild
  if not place or place == '' then place = '0' end
  if SPENDING[new] then
    redis.call('SADD', P..'spending:'..place, id)
  else
    redis.call('SREM', P..'spending:'..place, id)
  end
end

-- Whether a process may take the job: nobody holds it, it does, the lease ran out, or it is
-- still queued (not started) and its holder's heartbeat stopped (that process died).
local function may_take(key, me, now)
  local lease = redis.call('HMGET', key, 'holder', 'lease_until', 'state')
  if not lease[1] or lease[1] == me then return true end
  if tonumber(lease[2] or '0') < now then return true end
  return lease[3] == QUEUED and redis.call('EXISTS', P..'alive:'..lease[1]) == 0
end

-- Whether a write presents the job's fence: the number of its latest claim or takeover (0 for
-- a job nobody has claimed since it was admitted by a version without fences). A process that
-- was taken over presents an older number, and is refused even after the job has ended.
local function fenced_out(key, fence)
  return tonumber(redis.call('HGET', key, 'fence') or '0') ~= tonumber(fence)
end

-- Write fields (JSON: name -> text, or null to remove) and blobs (name, bytes; empty removes).
local function apply(key, id, record, blobs_from, now)
  local old = redis.call('HGET', key, 'state')
  for name, value in pairs(cjson.decode(record)) do
    if value == cjson.null then
      redis.call('HDEL', key, name)
    else
      redis.call('HSET', key, name, value)
    end
  end
  for i = blobs_from, #ARGV, 2 do
    local blob = key..':'..ARGV[i]
    if ARGV[i + 1] == '' then
      redis.call('DEL', blob)
      if ARGV[i] == 'pose' then redis.call('ZREM', P..'poses', id) end
    else
      redis.call('SET', blob, ARGV[i + 1])
      if ARGV[i] == 'pose' then
        redis.call('ZADD', P..'poses', redis.call('HGET', key, 'created_at'), id)
      end
    end
  end
  local new = redis.call('HGET', key, 'state')
  if new ~= old then
    local who = redis.call('HMGET', key, 'user_id', 'guild_id')
    reindex(id, old, new, who[1], who[2], now)
  end
end
