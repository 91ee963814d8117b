-- Schedule a unique task to be processed at a future time (Asynq's ScheduleUnique).
-- KEYS[1] -> asynq:{<qname>}:unique:<type>:<md5 hex of payload> (uniqueness lock)
-- KEYS[2] -> asynq:{<qname>}:t:<task_id>
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- ARGV[1] -> encoded TaskMessage
-- ARGV[2] -> task id
-- ARGV[3] -> process-at (unix seconds), the score in the scheduled set
-- ARGV[4] -> uniqueness lock TTL (whole seconds, >= 1; counts from now, so it covers
--            the wait until process-at plus the unique window)
-- Output: 1 when scheduled; 0 when a task with this id already exists; -1 when the
-- uniqueness lock is held (duplicate). Nothing is written unless the output is 1.
--@include unique
local claimed = claim_unique(KEYS[2], KEYS[1], ARGV[2], ARGV[4])
if claimed ~= 1 then
    return claimed
end
redis.call("HSET", KEYS[2], "msg", ARGV[1], "state", "scheduled", "unique_key", KEYS[1])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
return 1
