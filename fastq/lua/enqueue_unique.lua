-- Enqueue a unique task for immediate processing (Asynq's EnqueueUnique), then wake
-- idle workers.
-- KEYS[1] -> asynq:{<qname>}:unique:<type>:<md5 hex of payload> (uniqueness lock)
-- KEYS[2] -> asynq:{<qname>}:t:<task_id>
-- KEYS[3] -> asynq:{<qname>}:pending
-- KEYS[4] -> asynq:{<qname>}:x:wake (fastq extension; Asynq never reads it)
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> now (unix nanoseconds): the pending_since stamp
-- ARGV[4] -> uniqueness lock TTL (whole seconds, >= 1)
-- ARGV[5] -> most wake tokens kept in the wake list
-- Output: 1 when enqueued; 0 when a task with this id already exists; -1 when the
-- uniqueness lock is held (duplicate). Nothing is written unless the output is 1.
-- The id check runs before the lock is taken (Asynq takes the lock first) so that a
-- refused task never leaves a lock behind that blocks the next legitimate one.
--@include wake
if redis.call("EXISTS", KEYS[2]) == 1 then
    return 0
end
if not redis.call("SET", KEYS[1], ARGV[2], "NX", "EX", ARGV[4]) then
    return -1
end
redis.call("HSET", KEYS[2], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3],
           "unique_key", KEYS[1])
redis.call("LPUSH", KEYS[3], ARGV[2])
wake(KEYS[4], 1, ARGV[5])
return 1
