-- Delete up to ARGV[2] tasks of one state (Inspector delete all), oldest first,
-- releasing each uniqueness lock the task still holds. The caller repeats it until it
-- returns 0 so a huge state never blocks Redis for long.
-- KEYS[1] -> source: asynq:{<q>}:pending (LIST) or asynq:{<q>}:scheduled|retry|
--            archived|completed or asynq:{<q>}:g:<group> (ZSET)
-- KEYS[2] -> asynq:{<q>}:groups
-- KEYS[3] -> asynq:{<q>}:x:recovered (fastq extension: the tasks' counts are cleared)
-- ARGV[1] -> "list" or "zset"
-- ARGV[2] -> chunk size
-- ARGV[3] -> task key prefix asynq:{<q>}:t: (task hashes are built from it: their ids
--            are only known here; uniqueness locks are named by their unique_key field)
-- ARGV[4] -> group name when KEYS[1] is a group zset, else ""
-- Output: {deleted, dropped}: dropped counts ids whose task hash was already missing
--@include index
local ids = pop_oldest(KEYS[1], ARGV[1], tonumber(ARGV[2]))
local deleted, dropped = 0, 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  redis.call("HDEL", KEYS[3], id)
  release_unique(key, id)
  if redis.call("DEL", key) == 1 then deleted = deleted + 1 else dropped = dropped + 1 end
end
forget_group_if_empty(KEYS[1], KEYS[2], ARGV[4])
return {deleted, dropped}
