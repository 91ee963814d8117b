-- Schedule a task to be processed at a future time (Asynq's Schedule).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:scheduled
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> process-at (unix seconds), the score in the scheduled set
-- Output: 1 when scheduled; 0 when a task with this id already exists (nothing written).
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled")
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
return 1
