-- Move one task to the archive (Inspector archive). Allowed from pending, scheduled,
-- retry and aggregating; refused for active, archived and completed tasks. The archive
-- is then trimmed to its age and size limits, deleting the trimmed tasks' hashes.
-- KEYS[1] -> asynq:{<q>}:t:<id>
-- KEYS[2] -> asynq:{<q>}:pending
-- KEYS[3] -> asynq:{<q>}:scheduled
-- KEYS[4] -> asynq:{<q>}:retry
-- KEYS[5] -> asynq:{<q>}:archived
-- KEYS[6] -> asynq:{<q>}:groups
-- ARGV[1] -> task id
-- ARGV[2] -> group key prefix asynq:{<q>}:g: (the group zset is named by the hash's
--            group field, only known here)
-- ARGV[3] -> now, unix seconds (archive score)
-- ARGV[4] -> cutoff, unix seconds: archived at or before this are trimmed
-- ARGV[5] -> archive size limit
-- ARGV[6] -> task key prefix asynq:{<q>}:t: (trimmed tasks' hashes are built from it)
-- Output: {1, state} archived; {0, ""} no such task; {-1, state} not archivable
--@include archive_trim
--@include index
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" then return {0, ""} end
local state, group = unpack(redis.call("HMGET", KEYS[1], "state", "group"))
state = state or ""
local index = {scheduled = KEYS[3], retry = KEYS[4]}
if state == "pending" then
  redis.call("LREM", KEYS[2], 0, ARGV[1])
  redis.call("HDEL", KEYS[1], "pending_since")
elseif index[state] then
  redis.call("ZREM", index[state], ARGV[1])
elseif state == "aggregating" and group then
  remove_from_group(ARGV[2], KEYS[6], group, ARGV[1])
else
  return {-1, state}
end
redis.call("ZADD", KEYS[5], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
trim_archive(KEYS[5], ARGV[6], ARGV[4], ARGV[5], TRIM_BATCH)
return {1, state}
