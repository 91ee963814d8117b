-- Add a unique task to a group for aggregation (Asynq's AddToGroupUnique).
-- KEYS[1] -> asynq:{<qname>}:unique:<type>:<md5 hex of payload> (uniqueness lock)
-- KEYS[2] -> asynq:{<qname>}:t:<task_id>
-- KEYS[3] -> asynq:{<qname>}:g:<group>
-- KEYS[4] -> asynq:{<qname>}:groups
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> now (unix seconds), the score in the group set
-- ARGV[4] -> group name
-- ARGV[5] -> uniqueness lock TTL (whole seconds, >= 1)
-- Output: 1 when added; 0 when a task with this id already exists; -1 when the
-- uniqueness lock is held (duplicate). Nothing is written unless the output is 1.
-- As in Asynq, the hash gets no unique_key field on this path (the message carries it).
--@include unique
local claimed = claim_unique(KEYS[2], KEYS[1], ARGV[2], ARGV[5])
if claimed ~= 1 then
    return claimed
end
redis.call("HSET", KEYS[2], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[4], ARGV[4])
return 1
