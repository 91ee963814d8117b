-- Add a task to a group for aggregation (Asynq's AddToGroup).
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:g:<group>
-- KEYS[3] -> asynq:{<qname>}:groups
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> now (unix seconds), the score in the group set
-- ARGV[4] -> group name
-- Output: 1 when added; 0 when a task with this id already exists (nothing written).
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
