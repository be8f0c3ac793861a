"""The Lua scripts that make each step of `bot.state.redis.store` atomic across processes.

Every script gets the key prefix as ARGV[1]. Keys are built inside the scripts, so the store
needs one Redis server (with replicas if wanted), not Redis Cluster.
"""

# Shared by every script: the indexes a job's state change must keep right.
_LIBRARY = """
local P = ARGV[1]
local ACTIVE = {accepted=true, queued=true, sending=true, submitted=true}
local SPENDING = {accepted=true, queued=true, sending=true, submitted=true, drawn=true}

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
  if guild and guild ~= '' then
    if SPENDING[new] then
      redis.call('SADD', P..'spending:'..guild, id)
    else
      redis.call('SREM', P..'spending:'..guild, id)
    end
  end
end

-- Whether this process may write the job: nobody holds it, it does, or the lease ran out.
local function may_write(key, me, now)
  local lease = redis.call('HMGET', key, 'holder', 'lease_until')
  if not lease[1] or lease[1] == me then return true end
  return tonumber(lease[2] or '0') < now
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
"""

# ARGV: P, now, user, guild ('' outside servers), cooldown, max_waiting, max_per_user,
# daily_limit, budget, expected_cost, the job's fields (JSON), holder, lease seconds.
# The admitting process holds the new job until it queues it. Returns {'ok', id} or the rule
# that said no with its numbers (as bot.state.sqlite.admission checks them).
ADMIT = (
    _LIBRARY
    + """
local now, user, guild = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cooldown, max_waiting, max_per_user = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local daily, budget, expected = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local place = guild
if place == '' then place = '0' end
local cooling = P..'cooldown:'..user..':'..place
if cooldown > 0 then
  local ends = tonumber(redis.call('GET', cooling) or '0')
  if ends > now then return {'cooldown', tostring(ends)} end
end
local mine = redis.call('SCARD', P..'active:'..user)
if mine >= max_per_user then return {'mine', tostring(mine)} end
local waiting = redis.call('ZCARD', P..'state:accepted') + redis.call('ZCARD', P..'state:queued')
if waiting >= max_waiting then return {'queue'} end
if guild ~= '' and (daily > 0 or budget > 0) then
  local entries = redis.call('ZRANGEBYSCORE', P..'ledger:guild:'..guild, '('..(now - 86400), '+inf')
  local spending = redis.call('SMEMBERS', P..'spending:'..guild)
  if daily > 0 then
    local drawn = {}
    for _, raw in ipairs(entries) do
      local entry = cjson.decode(raw)
      if entry.user_id == user and entry.outcome == 'done' then table.insert(drawn, entry.at) end
    end
    local count = #drawn
    for _, id in ipairs(spending) do
      if redis.call('HGET', P..'job:'..id, 'user_id') == user then count = count + 1 end
    end
    if count >= daily then
      local over = count - daily
      local ends = ''
      if over < #drawn then ends = tostring(drawn[over + 1] + 86400) end
      return {'daily', tostring(count), ends}
    end
  end
  if budget > 0 then
    local costs, committed = {}, 0
    for _, raw in ipairs(entries) do
      local entry = cjson.decode(raw)
      if entry.cost > 0 then
        table.insert(costs, entry)
        committed = committed + entry.cost
      end
    end
    for _, id in ipairs(spending) do
      committed = committed + tonumber(redis.call('HGET', P..'job:'..id, 'reserved') or '0')
    end
    local excess = committed + expected - budget
    if excess > 1e-9 then
      local ends = ''
      for _, entry in ipairs(costs) do
        excess = excess - entry.cost
        if excess <= 1e-9 then
          ends = tostring(entry.at + 86400)
          break
        end
      end
      return {'budget', tostring(committed), ends}
    end
  end
end
local id = redis.call('INCR', P..'job:next')
local key = P..'job:'..id
for name, value in pairs(cjson.decode(ARGV[11])) do
  if value ~= cjson.null then redis.call('HSET', key, name, value) end
end
redis.call('HSET', key, 'id', id, 'holder', ARGV[12], 'lease_until', tostring(now + ARGV[13]))
reindex(id, false, 'accepted', user, guild, now)
if cooldown > 0 then
  redis.call('SET', cooling, tostring(now + cooldown), 'PX', math.ceil(cooldown * 1000))
end
return {'ok', tostring(id)}
"""
)

# ARGV: P, id, holder, now, expected state ('' = any), fields (JSON), blobs...
# Returns 1 if written, 0 if the job is missing or in another state, -1 if another holds it.
MOVE = (
    _LIBRARY
    + """
local id, me, now, expected = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_write(key, me, now) then return -1 end
if expected ~= '' and redis.call('HGET', key, 'state') ~= expected then return 0 end
apply(key, id, ARGV[6], 7, now)
return 1
"""
)

# ARGV: P, id, holder, now, ledger entry (JSON), fields (JSON), at, guild, keep seconds, blobs...
# The job's end and its ledger entry in one step; the job is forgotten `keep` seconds later.
FINISH = (
    _LIBRARY
    + """
local id, me, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local entry, at, guild, keep = ARGV[5], ARGV[7], ARGV[8], tonumber(ARGV[9])
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_write(key, me, now) then return -1 end
local old = redis.call('HGET', P..'ledger:entries', id)
if old then
  redis.call('ZREM', P..'ledger:all', old)
  if guild ~= '' then redis.call('ZREM', P..'ledger:guild:'..guild, old) end
end
redis.call('HSET', P..'ledger:entries', id, entry)
redis.call('ZADD', P..'ledger:all', at, entry)
if guild ~= '' then redis.call('ZADD', P..'ledger:guild:'..guild, at, entry) end
apply(key, id, ARGV[6], 10, now)
redis.call('HDEL', key, 'holder', 'lease_until')
for _, part in ipairs({'', ':pose', ':sheet'}) do redis.call('EXPIRE', key..part, keep) end
local state = redis.call('HGET', key, 'state')
redis.call('ZREMRANGEBYSCORE', P..'state:'..state, '-inf', now - keep)
return 1
"""
)

# ARGV: P, id, holder, now, lease seconds, state it must be in ('' = any).
# 1 if this process now holds the job.
HOLD = (
    _LIBRARY
    + """
local id, me, now, lease = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if not may_write(key, me, now) then return 0 end
if ARGV[6] ~= '' and redis.call('HGET', key, 'state') ~= ARGV[6] then return 0 end
redis.call('HSET', key, 'holder', me, 'lease_until', tostring(now + lease))
return 1
"""
)

# ARGV: P, id, holder.
RELEASE = """
local key = ARGV[1]..'job:'..ARGV[2]
if redis.call('HGET', key, 'holder') == ARGV[3] then
  redis.call('HDEL', key, 'holder', 'lease_until')
end
return 1
"""

# ARGV: P, holder, now, lease seconds, ids... Extends the leases this holder still has.
RENEW = """
local until_ = tostring(tonumber(ARGV[3]) + tonumber(ARGV[4]))
local renewed = 0
for i = 5, #ARGV do
  local key = ARGV[1]..'job:'..ARGV[i]
  if redis.call('HGET', key, 'holder') == ARGV[2] then
    redis.call('HSET', key, 'lease_until', until_)
    renewed = renewed + 1
  end
end
return renewed
"""
