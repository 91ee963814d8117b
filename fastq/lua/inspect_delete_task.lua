-- Delete one task (Inspector delete): remove it from its index, release its uniqueness
-- lock if it still holds it, and delete its hash. Refused for active tasks. A hash
-- that is missing or has an unknown state is cleaned from every index, so corrupt
-- entries can be removed too.
-- KEYS[1] -> asynq:{<q>}:t:<id>
-- KEYS[2] -> asynq:{<q>}:pending
-- KEYS[3] -> asynq:{<q>}:scheduled
-- KEYS[4] -> asynq:{<q>}:retry
-- KEYS[5] -> asynq:{<q>}:archived
-- KEYS[6] -> asynq:{<q>}:completed
-- KEYS[7] -> asynq:{<q>}:groups
-- KEYS[8] -> asynq:{<q>}:x:recovered (fastq extension: the task's count is cleared)
-- ARGV[1] -> task id
-- ARGV[2] -> group key prefix asynq:{<q>}:g: (the group zset is named by the hash's
--            group field, only known here; the uniqueness lock is named by the hash's
--            unique_key field)
-- Output: {1, state} deleted; {0, ""} nothing found; {-1, "active"} refused
--@include index
local state, group, unique = false, false, false
if redis.call("TYPE", KEYS[1])["ok"] == "hash" then
  state, group, unique = unpack(redis.call("HMGET", KEYS[1], "state", "group", "unique_key"))
end
if state == "active" then return {-1, "active"} end
local removed = 0
local index = {scheduled = KEYS[3], retry = KEYS[4], archived = KEYS[5], completed = KEYS[6]}
if state == "pending" then
  removed = redis.call("LREM", KEYS[2], 0, ARGV[1])
elseif state and index[state] then
  removed = redis.call("ZREM", index[state], ARGV[1])
elseif state == "aggregating" and group then
  removed = remove_from_group(ARGV[2], KEYS[7], group, ARGV[1])
else
  -- unknown state or no hash: sweep the id out of every index it may sit in
  local okl, nl = pcall(redis.call, "LREM", KEYS[2], 0, ARGV[1])
  if okl then removed = nl end
  for i = 3, 6 do
    local ok, n = pcall(redis.call, "ZREM", KEYS[i], ARGV[1])
    if ok then removed = removed + n end
  end
end
if unique and unique ~= "" and redis.call("GET", unique) == ARGV[1] then
  redis.call("DEL", unique)
end
removed = removed + redis.call("DEL", KEYS[1])
redis.call("HDEL", KEYS[8], ARGV[1])
if removed == 0 then return {0, ""} end
return {1, state or ""}
