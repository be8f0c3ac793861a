-- Admission: the twin of bot/state/sqlite/admission.py (the same rules, in the same order, with
-- the same numbers); a rule changed in one is changed in the other, and
-- tests/test_records_contract.py runs every rule on both. Its Python half (what it is given,
-- what its answer means): bot/state/redis/admission.py.
--
-- ARGV: P, now, user, guild ('' outside servers), cooldown, max_waiting, max_per_user,
-- daily_limit, budget, expected_cost, the job's fields (JSON), holder, lease seconds, where the
-- member's cooldown and limits hold (the server, or 0 in direct messages), the lowest id it may
-- get (past every id the admitting process saw: after a wipe the counter starts over), the
-- admission's key: a repeat (its first answer lost with a connection) gets the same job.
-- The admitting process holds the new job (fence 1) until it queues it. Returns {'ok', id} or the rule
-- that said no with its numbers.
local now, user, guild = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cooldown, max_waiting, max_per_user = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local daily, budget, expected = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local place = ARGV[14]  -- the server, or 0 in direct messages (the operator's limits hold there)
local cooling = P..'cooldown:'..user..':'..place
local asked = P..'admitted:'..ARGV[16]
do
  local known = redis.call('GET', asked)
  if known then return {'ok', known} end
end
if cooldown > 0 then
  local ends = tonumber(redis.call('GET', cooling) or '0')
  if ends > now then return {'cooldown', exact(ends)} end
end
local mine = redis.call('SCARD', P..'active:'..user)
if mine >= max_per_user then return {'mine', tostring(mine)} end
local waiting = 0
for state in pairs(WAITING) do waiting = waiting + redis.call('ZCARD', P..'state:'..state) end
if waiting >= max_waiting then return {'queue'} end
if daily > 0 or budget > 0 then
  local entries = redis.call('ZRANGEBYSCORE', P..'ledger:guild:'..place, '('..(now - DAY), '+inf')
  local spending = redis.call('SMEMBERS', P..'spending:'..place)
  if daily > 0 then
    local drawn = {}
    for _, raw in ipairs(entries) do
      local entry = cjson.decode(raw)
      if entry.user_id == user and DRAWN_FOR_MEMBER[entry.outcome] then table.insert(drawn, entry.at) end
    end
    local count = #drawn
    for _, id in ipairs(spending) do
      if redis.call('HGET', P..'job:'..id, 'user_id') == user then count = count + 1 end
    end
    if count >= daily then
      local over = count - daily  -- how many must leave the window first
      local ends = ''
      if over < #drawn then ends = exact(drawn[over + 1] + DAY) end
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
    if excess > COST_TOLERANCE then
      local ends = ''
      for _, entry in ipairs(costs) do  -- the moment enough of the spend leaves the window
        excess = excess - entry.cost
        if excess <= COST_TOLERANCE then
          ends = exact(entry.at + DAY)
          break
        end
      end
      return {'budget', exact(committed), ends}
    end
  end
end
local id = redis.call('INCR', P..'job:next')
if id <= tonumber(ARGV[15]) then
  id = tonumber(ARGV[15]) + 1
  redis.call('SET', P..'job:next', id)
end
local key = P..'job:'..id
for name, value in pairs(cjson.decode(ARGV[11])) do
  if value ~= cjson.null then redis.call('HSET', key, name, value) end
end
redis.call('HSET', key, 'id', id, 'holder', ARGV[12], 'lease_until', exact(now + ARGV[13]), 'fence', 1)
reindex(id, false, ACCEPTED, user, guild, now)
if cooldown > 0 then
  redis.call('SET', cooling, exact(now + cooldown), 'PX', math.ceil(cooldown * 1000))
end
redis.call('SET', asked, id, 'PX', math.floor(REPEAT_WITHIN_MS))
return {'ok', tostring(id)}
