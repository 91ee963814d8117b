-- Archive up to ARGV[2] tasks of one state (Inspector archive all), oldest first, then
-- trim the archive to its limits. The caller repeats it until it returns 0 so a huge
-- state never blocks Redis for long.
-- KEYS[1] -> source: asynq:{<q>}:pending (LIST) or asynq:{<q>}:scheduled|retry or
--            asynq:{<q>}:g:<group> (ZSET)
-- KEYS[2] -> asynq:{<q>}:archived
-- KEYS[3] -> asynq:{<q>}:groups
-- ARGV[1] -> "list" or "zset"
-- ARGV[2] -> chunk size
-- ARGV[3] -> task key prefix asynq:{<q>}:t: (task hashes are built from it: their ids
--            are only known here)
-- ARGV[4] -> now, unix seconds (archive score)
-- ARGV[5] -> cutoff, unix seconds: archived at or before this are trimmed
-- ARGV[6] -> archive size limit
-- ARGV[7] -> group name when KEYS[1] is a group zset, else ""
-- Output: {moved, dropped}: dropped counts ids whose task hash was missing (removed)
--@include archive_trim
--@include index
local n = tonumber(ARGV[2])
local ids = pop_oldest(KEYS[1], ARGV[1], n)
local moved, dropped = 0, 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  if redis.call("EXISTS", key) == 1 then
    redis.call("ZADD", KEYS[2], ARGV[4], id)
    redis.call("HSET", key, "state", "archived")
    redis.call("HDEL", key, "pending_since")
    moved = moved + 1
  else
    dropped = dropped + 1
  end
end
forget_group_if_empty(KEYS[1], KEYS[3], ARGV[7])
trim_archive(KEYS[2], ARGV[3], ARGV[5], ARGV[6], TRIM_BATCH + n)
return {moved, dropped}
