-- Claim one tick of a periodic entry and enqueue its task, atomically: however many
-- schedulers call this for the same tick, exactly one enqueues (fastq extension).
-- KEYS[1] -> asynq:{<qname>}:x:tick:<entry id> (last tick enqueued, unix seconds)
-- KEYS[2] -> asynq:{<qname>}:t:<task_id>
-- KEYS[3] -> where the task goes: asynq:{<qname>}:pending, asynq:{<qname>}:scheduled
--            or asynq:{<qname>}:g:<group>
-- KEYS[4] -> asynq:{<qname>}:x:wake (pending) or asynq:{<qname>}:groups (group);
--            unused for scheduled (pass KEYS[3] again)
-- KEYS[5] -> asynq:{<qname>}:unique:<type>:<md5> uniqueness lock, or KEYS[2] again
--            when the task is not unique
-- ARGV[1] -> the tick (unix seconds)
-- ARGV[2] -> encoded TaskMessage
-- ARGV[3] -> task id
-- ARGV[4] -> placement: "pending", "scheduled" or "aggregating"
-- ARGV[5] -> pending: now (unix ns, pending_since); scheduled: process-at (unix
--            seconds); aggregating: now (unix seconds)
-- ARGV[6] -> uniqueness lock TTL in seconds (0: not unique)
-- ARGV[7] -> group name ("" unless aggregating)
-- ARGV[8] -> most wake tokens kept in the wake list
-- ARGV[9] -> TTL of the tick key (seconds)
-- Output: 1 enqueued; 0 the tick (or a later one) was already claimed, nothing
-- written; -1 a task with this id exists (the tick was enqueued before), tick
-- claimed; -2 the uniqueness lock is held (duplicate), tick claimed, no task.
--@include wake
--@include unique
local last = tonumber(redis.call("GET", KEYS[1]) or "0")
if last >= tonumber(ARGV[1]) then
    return 0
end
redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[9])
local unique = tonumber(ARGV[6])
if unique > 0 then
    local claimed = claim_unique(KEYS[2], KEYS[5], ARGV[3], unique)
    if claimed ~= 1 then
        return claimed - 1  -- 0 (id exists) -> -1, -1 (lock held) -> -2
    end
elseif redis.call("EXISTS", KEYS[2]) == 1 then
    return -1
end
local mode = ARGV[4]
if mode == "pending" then
    redis.call("HSET", KEYS[2], "msg", ARGV[2], "state", "pending", "pending_since", ARGV[5])
    redis.call("LPUSH", KEYS[3], ARGV[3])
    wake(KEYS[4], 1, ARGV[8])
elseif mode == "scheduled" then
    redis.call("HSET", KEYS[2], "msg", ARGV[2], "state", "scheduled")
    redis.call("ZADD", KEYS[3], ARGV[5], ARGV[3])
else
    redis.call("HSET", KEYS[2], "msg", ARGV[2], "state", "aggregating", "group", ARGV[7])
    redis.call("ZADD", KEYS[3], ARGV[5], ARGV[3])
    redis.call("SADD", KEYS[4], ARGV[7])
end
if unique > 0 then
    redis.call("HSET", KEYS[2], "unique_key", KEYS[5])
end
return 1
