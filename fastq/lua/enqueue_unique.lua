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
--@include wake
--@include unique
local claimed = claim_unique(KEYS[2], KEYS[1], ARGV[2], ARGV[4])
if claimed ~= 1 then
    return claimed
end
redis.call("HSET", KEYS[2], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3],
           "unique_key", KEYS[1])
redis.call("LPUSH", KEYS[3], ARGV[2])
wake(KEYS[4], 1, ARGV[5])
return 1
