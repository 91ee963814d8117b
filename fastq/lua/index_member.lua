-- Add a member to, or remove it from, one global index zset. A script of its own
-- because each global key (asynq:servers, asynq:workers) lives in a Redis Cluster
-- hash slot of its own, apart from the per-server keys the member names.
-- KEYS[1] -> asynq:servers or asynq:workers
-- ARGV[1] -> member (a server or workers key)
-- ARGV[2] -> score (unix seconds of expiry) to add it with; "" removes it
-- Output: the number of members added or removed (0 or 1).
if ARGV[2] == "" then
    return redis.call("ZREM", KEYS[1], ARGV[1])
end
return redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
