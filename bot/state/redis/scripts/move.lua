-- ARGV: P, id, fence, now, expected state ('' = any), fields (JSON), blobs...
-- Returns 1 if written, 0 if the job is missing or in another state, -1 if the fence is not
-- the job's (another process took it over). A repeat of a move already made (its answer lost
-- with a connection) finds every field as it wrote them, by the same fence: 1 again (two of one
-- process's workers racing for a claim differ in their start time: one wins).
local id, fence, now, expected = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local key = P..'job:'..id
if redis.call('EXISTS', key) == 0 then return 0 end
if fenced_out(key, fence) then return -1 end
local state = redis.call('HGET', key, 'state')
if expected ~= '' and state ~= expected then
  if tonumber(fence) == 0 then return 0 end
  for name, value in pairs(cjson.decode(ARGV[6])) do
    local stored = redis.call('HGET', key, name)
    if value == cjson.null then value = false end
    if stored ~= value then return 0 end
  end
  return 1
end
apply(key, id, ARGV[6], 7, now)
return 1
