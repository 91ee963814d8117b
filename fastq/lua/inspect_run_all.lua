-- Move up to ARGV[1] tasks from one zset to pending (Inspector run all), oldest first.
-- The caller repeats it until it returns 0 so a huge state never blocks Redis for long.
-- KEYS[1] -> source ZSET: asynq:{<q>}:scheduled|retry|archived or asynq:{<q>}:g:<group>
-- KEYS[2] -> asynq:{<q>}:pending
-- KEYS[3] -> asynq:{<q>}:groups
-- KEYS[4] -> asynq:{<q>}:x:wake (fastq extension: wakes idle fastq workers at once)
-- KEYS[5] -> asynq:{<q>}:x:recovered (fastq extension: the tasks' counts are cleared)
-- ARGV[1] -> chunk size
-- ARGV[2] -> task key prefix asynq:{<q>}:t: (task hashes are built from it: their ids
--            are only known here)
-- ARGV[3] -> now, unix nanoseconds (pending_since)
-- ARGV[4] -> group name when KEYS[1] is a group zset, else ""
-- ARGV[5] -> most wake tokens kept in the wake list
-- Output: {moved, dropped}: dropped counts ids whose task hash was missing (removed)
--@include wake
--@include index
local moved, dropped = 0, 0
for _, id in ipairs(pop_oldest(KEYS[1], "zset", tonumber(ARGV[1]))) do
  local key = ARGV[2] .. id
  redis.call("HDEL", KEYS[5], id)
  if redis.call("EXISTS", key) == 1 then
    redis.call("LPUSH", KEYS[2], id)
    redis.call("HSET", key, "state", "pending", "pending_since", ARGV[3])
    moved = moved + 1
  else
    dropped = dropped + 1
  end
end
forget_group_if_empty(KEYS[1], KEYS[3], ARGV[4])
wake(KEYS[4], moved, ARGV[5])
return {moved, dropped}
