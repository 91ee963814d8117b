-- Enqueue a task for immediate processing (Asynq's Enqueue), then wake idle workers.
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:x:wake (fastq extension; Asynq never reads it)
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> now (unix nanoseconds): the pending_since stamp
-- ARGV[4] -> most wake tokens kept in the wake list
-- Output: 1 when enqueued; 0 when a task with this id already exists (nothing written).
--@include wake
if redis.call("EXISTS", KEYS[1]) == 1 then
    return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
redis.call("LPUSH", KEYS[2], ARGV[2])
-- One token per task lets a worker blocked on BLPOP return at once; the cap keeps
-- the list tiny when nobody is listening.
wake(KEYS[3], 1, ARGV[4])
return 1
