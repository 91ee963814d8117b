-- Estimated memory of one queue, sampled as Asynq does: MEMORY USAGE of each index key,
-- plus the average size of up to ARGV[3] sampled task hashes times the task count.
-- KEYS[1] -> asynq:{<q>}:pending
-- KEYS[2] -> asynq:{<q>}:active
-- KEYS[3] -> asynq:{<q>}:scheduled
-- KEYS[4] -> asynq:{<q>}:retry
-- KEYS[5] -> asynq:{<q>}:archived
-- KEYS[6] -> asynq:{<q>}:completed
-- KEYS[7] -> asynq:{<q>}:groups
-- ARGV[1] -> task key prefix asynq:{<q>}:t: (sampled task hashes are built from it)
-- ARGV[2] -> group key prefix asynq:{<q>}:g: (group zsets are named by SMEMBERS groups)
-- ARGV[3] -> sample size per index
-- Output: estimated bytes (integer)
local sample = tonumber(ARGV[3])
local function usage(key)
  local ok, m = pcall(redis.call, "MEMORY", "USAGE", key)
  if ok and m then return m end
  return 0
end
local function estimate(key, is_list)
  local ok, ids, total
  if is_list then
    ok, ids = pcall(redis.call, "LRANGE", key, 0, sample - 1)
    if ok then total = redis.call("LLEN", key) end
  else
    ok, ids = pcall(redis.call, "ZRANGE", key, 0, sample - 1)
    if ok then total = redis.call("ZCARD", key) end
  end
  local bytes = usage(key)
  if not ok or #ids == 0 then return bytes end
  local sum = 0
  for _, id in ipairs(ids) do sum = sum + usage(ARGV[1] .. id) end
  return bytes + math.floor(sum / #ids * total)
end
local bytes = estimate(KEYS[1], true) + estimate(KEYS[2], true)
for i = 3, 6 do bytes = bytes + estimate(KEYS[i], false) end
bytes = bytes + usage(KEYS[7])
local okg, names = pcall(redis.call, "SMEMBERS", KEYS[7])
if okg then
  for _, g in ipairs(names) do bytes = bytes + estimate(ARGV[2] .. g, false) end
end
return bytes
