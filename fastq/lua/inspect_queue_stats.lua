-- Counts and flags of one queue for the Inspector, read atomically.
-- A key of the wrong type counts as -1 so the caller can report it instead of failing.
-- KEYS[1]  -> asynq:{<q>}:pending
-- KEYS[2]  -> asynq:{<q>}:active
-- KEYS[3]  -> asynq:{<q>}:scheduled
-- KEYS[4]  -> asynq:{<q>}:retry
-- KEYS[5]  -> asynq:{<q>}:archived
-- KEYS[6]  -> asynq:{<q>}:completed
-- KEYS[7]  -> asynq:{<q>}:processed:<today>
-- KEYS[8]  -> asynq:{<q>}:failed:<today>
-- KEYS[9]  -> asynq:{<q>}:processed
-- KEYS[10] -> asynq:{<q>}:failed
-- KEYS[11] -> asynq:{<q>}:paused
-- KEYS[12] -> asynq:{<q>}:groups
-- ARGV[1]  -> task key prefix asynq:{<q>}:t: (the oldest pending task's hash is built
--             from it: its id is only known here)
-- ARGV[2]  -> group key prefix asynq:{<q>}:g: (group zsets are named by SMEMBERS groups)
-- Output: {pending, active, scheduled, retry, archived, completed, processed_today,
--          failed_today, processed_total, failed_total, paused_value|false, groups,
--          aggregating, oldest_pending_since|false}
local function count(cmd, key)
  local ok, n = pcall(redis.call, cmd, key)
  if ok then return n end
  return -1
end
local function num(key)
  local ok, v = pcall(redis.call, "GET", key)
  if ok and v then return tonumber(v) or -1 end
  if ok then return 0 end
  return -1
end
local res = {
  count("LLEN", KEYS[1]), count("LLEN", KEYS[2]), count("ZCARD", KEYS[3]),
  count("ZCARD", KEYS[4]), count("ZCARD", KEYS[5]), count("ZCARD", KEYS[6]),
  num(KEYS[7]), num(KEYS[8]), num(KEYS[9]), num(KEYS[10]),
}
local okp, paused = pcall(redis.call, "GET", KEYS[11])
if not okp then paused = "?" end
table.insert(res, paused or false)
local groups, aggregating = 0, 0
local okg, names = pcall(redis.call, "SMEMBERS", KEYS[12])
if okg then
  groups = #names
  for _, g in ipairs(names) do
    local n = count("ZCARD", ARGV[2] .. g)
    if n > 0 then aggregating = aggregating + n end
  end
else
  groups = -1
end
table.insert(res, groups)
table.insert(res, aggregating)
local since = false
if res[1] > 0 then
  local id = redis.call("LINDEX", KEYS[1], -1)
  local okh, v = pcall(redis.call, "HGET", ARGV[1] .. id, "pending_since")
  if okh and v then since = v end
end
table.insert(res, since)
return res
