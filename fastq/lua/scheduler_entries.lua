-- Publish a scheduler's entries (Asynq's WriteSchedulerEntries); the caller lists the
-- key in asynq:schedulers with index_member.lua (another Redis Cluster hash slot).
-- KEYS[1] -> asynq:schedulers:{<scheduler id>}
-- ARGV[1] -> TTL in seconds
-- ARGV[2..] -> encoded SchedulerEntry messages
-- Output: 1.
redis.call("DEL", KEYS[1])
for i = 2, #ARGV do
    redis.call("LPUSH", KEYS[1], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return 1
