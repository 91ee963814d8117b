-- Move one task to pending now (Inspector run). Allowed from scheduled, retry, archived
-- and aggregating; refused for pending, active and completed tasks.
-- KEYS[1] -> asynq:{<q>}:t:<id>
-- KEYS[2] -> asynq:{<q>}:pending
-- KEYS[3] -> asynq:{<q>}:scheduled
-- KEYS[4] -> asynq:{<q>}:retry
-- KEYS[5] -> asynq:{<q>}:archived
-- KEYS[6] -> asynq:{<q>}:groups
-- KEYS[7] -> asynq:{<q>}:x:wake (fastq extension: wakes idle fastq workers at once)
-- KEYS[8] -> asynq:{<q>}:x:recovered (fastq extension: the task's count is cleared)
-- ARGV[1] -> task id
-- ARGV[2] -> group key prefix asynq:{<q>}:g: (the group zset is named by the hash's
--            group field, only known here)
-- ARGV[3] -> now, unix nanoseconds (pending_since)
-- ARGV[4] -> most wake tokens kept in the wake list
-- Output: {1, state} moved; {0, ""} no such task; {-1, state} not runnable in its state
--@include wake
--@include index
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" then return {0, ""} end
local state, group = unpack(redis.call("HMGET", KEYS[1], "state", "group"))
state = state or ""
local index = {scheduled = KEYS[3], retry = KEYS[4], archived = KEYS[5]}
if index[state] then
  redis.call("ZREM", index[state], ARGV[1])
elseif state == "aggregating" and group then
  remove_from_group(ARGV[2], KEYS[6], group, ARGV[1])
else
  return {-1, state}
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "pending", "pending_since", ARGV[3])
redis.call("HDEL", KEYS[8], ARGV[1])
wake(KEYS[7], 1, ARGV[4])
return {1, state}
