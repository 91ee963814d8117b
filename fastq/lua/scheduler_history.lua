-- Record one enqueue of a periodic entry (Asynq's RecordSchedulerEnqueueEvent).
-- KEYS[1] -> asynq:scheduler_history:<entry id>
-- ARGV[1] -> enqueue time (unix seconds), the score
-- ARGV[2] -> encoded SchedulerEnqueueEvent
-- ARGV[3] -> most events kept (Asynq: 1000)
-- Output: 1.
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -tonumber(ARGV[3]))
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
return 1
