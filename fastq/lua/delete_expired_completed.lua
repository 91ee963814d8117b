-- Delete completed tasks of one queue whose retention ended (Asynq janitor).
-- KEYS[1] -> asynq:{<qname>}:completed
-- ARGV[1] -> now (unix seconds)
-- ARGV[2] -> task key prefix (asynq:{<qname>}:t:); hashes are built from it because
--            the ids are only known here
-- ARGV[3] -> most tasks to delete
-- Output: the number of tasks deleted.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
    redis.call("DEL", ARGV[2] .. id)
    redis.call("ZREM", KEYS[1], id)
end
return #ids
