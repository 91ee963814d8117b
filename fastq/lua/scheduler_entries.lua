-- Publish a scheduler's entries (Asynq's WriteSchedulerEntries).
-- KEYS[1] -> asynq:schedulers:{<scheduler id>}
-- KEYS[2] -> asynq:schedulers
-- ARGV[1] -> TTL in seconds
-- ARGV[2] -> expiry (unix seconds), the score in asynq:schedulers
-- ARGV[3..] -> encoded SchedulerEntry messages
-- Output: 1.
redis.call("DEL", KEYS[1])
for i = 3, #ARGV do
    redis.call("LPUSH", KEYS[1], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
redis.call("ZADD", KEYS[2], ARGV[2], KEYS[1])
return 1
