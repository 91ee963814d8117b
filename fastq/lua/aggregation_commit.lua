-- Enqueue the aggregated task and delete its aggregation set with the member tasks,
-- atomically (Asynq enqueues, then calls DeleteAggregationSet; a crash between the
-- two aggregated the set twice). Refused when the set was reclaimed meanwhile.
-- KEYS[1] -> asynq:{<qname>}:g:<group>:<aggregation set id>
-- KEYS[2] -> asynq:{<qname>}:aggregation_sets
-- KEYS[3] -> asynq:{<qname>}:t:<aggregated task id>
-- KEYS[4] -> asynq:{<qname>}:pending or asynq:{<qname>}:scheduled
-- KEYS[5] -> asynq:{<qname>}:x:wake (fastq extension)
-- ARGV[1] -> encoded TaskMessage of the aggregated task
-- ARGV[2] -> its task id
-- ARGV[3] -> "pending" or "scheduled"
-- ARGV[4] -> pending: now (unix ns, pending_since); scheduled: process-at (unix s)
-- ARGV[5] -> most wake tokens kept in the wake list
-- ARGV[6] -> task key prefix asynq:{<qname>}:t: (member hashes to delete; their
--            ids are only known here; same hash slot)
-- Output: 1 committed; 0 the set is gone (reclaimed or committed elsewhere), nothing
-- written; -1 a task with the aggregated id exists, nothing written.
--@include wake
if not redis.call("ZSCORE", KEYS[2], KEYS[1]) then
    return 0
end
if redis.call("EXISTS", KEYS[3]) == 1 then
    return -1
end
if ARGV[3] == "pending" then
    redis.call("HSET", KEYS[3], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[4])
    redis.call("LPUSH", KEYS[4], ARGV[2])
    wake(KEYS[5], 1, ARGV[5])
else
    redis.call("HSET", KEYS[3], "msg", ARGV[1], "state", "scheduled")
    redis.call("ZADD", KEYS[4], ARGV[4], ARGV[2])
end
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
    redis.call("DEL", ARGV[6] .. id)
end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], KEYS[1])
return 1
