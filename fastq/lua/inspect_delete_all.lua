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
local n = tonumber(ARGV[2])
local ids = {}
if ARGV[1] == "list" then
  ids = redis.call("RPOP", KEYS[1], n) or {}
else
  local popped = redis.call("ZPOPMIN", KEYS[1], n)
  for i = 1, #popped, 2 do table.insert(ids, popped[i]) end
end
local deleted, dropped = 0, 0
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  redis.call("HDEL", KEYS[3], id)
  if redis.call("TYPE", key)["ok"] == "hash" then
    local unique = redis.call("HGET", key, "unique_key")
    if unique and unique ~= "" and redis.call("GET", unique) == id then
      redis.call("DEL", unique)
    end
  end
  if redis.call("DEL", key) == 1 then deleted = deleted + 1 else dropped = dropped + 1 end
end
if ARGV[4] ~= "" and redis.call("ZCARD", KEYS[1]) == 0 then
  redis.call("SREM", KEYS[2], ARGV[4])
end
return {deleted, dropped}
