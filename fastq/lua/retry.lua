-- Move a failed active task to retry (Asynq Retry), if this worker still holds its lease.
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:lease
-- KEYS[4] -> asynq:{<qname>}:retry
-- KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[7] -> asynq:{<qname>}:processed
-- KEYS[8] -> asynq:{<qname>}:failed
-- ARGV[1] -> task id
-- ARGV[2] -> updated message (retried, error_msg, last_failed_at)
-- ARGV[3] -> retry at (unix seconds)
-- ARGV[4] -> daily stats expiry (unix seconds)
-- ARGV[5] -> 1 if the error counts as a failure (stats), else 0
-- ARGV[6] -> lease score this worker holds
-- ARGV[7] -> the failure's traceback for the x_traceback field ("" removes the field);
--            a fastq extension Asynq never reads
-- Output: 1 moved, 0 lease lost (nothing written), -1 not in active (nothing written).
--@include lease
--@include stats
--@include traceback
local taken = take_active(KEYS[2], KEYS[3], ARGV[1], ARGV[6])
if taken ~= 1 then
    return taken
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
set_traceback(KEYS[1], ARGV[7])
if tonumber(ARGV[5]) == 1 then
    count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[4])
end
return 1
