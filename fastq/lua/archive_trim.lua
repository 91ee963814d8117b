-- Trim one queue's archive to the newest N tasks and to a maximum age, deleting the
-- trimmed tasks' hashes.
-- KEYS[1] -> asynq:{<qname>}:archived
-- ARGV[1] -> cutoff (unix seconds): tasks archived at or before it are deleted
-- ARGV[2] -> most archived tasks kept
-- ARGV[3] -> task key prefix (asynq:{<qname>}:t:); hashes are built from it because
--            the ids are only known here
-- Output: the number of tasks deleted.
local n = 0
for _, old in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 1000)) do
    redis.call("DEL", ARGV[3] .. old)
    redis.call("ZREM", KEYS[1], old)
    n = n + 1
end
local extra = redis.call("ZRANGE", KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
for i = 1, math.min(#extra, 1000) do
    redis.call("DEL", ARGV[3] .. extra[i])
    redis.call("ZREM", KEYS[1], extra[i])
    n = n + 1
end
return n
