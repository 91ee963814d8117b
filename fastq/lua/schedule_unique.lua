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
-- The id check runs before the lock is taken (see enqueue_unique.lua).
if redis.call("EXISTS", KEYS[2]) == 1 then
    return 0
end
if not redis.call("SET", KEYS[1], ARGV[2], "NX", "EX", ARGV[4]) then
    return -1
end
redis.call("HSET", KEYS[2], "msg", ARGV[1], "state", "scheduled", "unique_key", KEYS[1])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
return 1
