-- Take a slot of each fetched task's concurrency key, or park the task until one
-- frees: it leaves active and its lease, waits in scheduled (so the forwarder brings
-- it back at ARGV[2] even if no release ever wakes it) and in the key's waiters.
-- Its message is unchanged: parking uses no retry. A slot's holder is live while the
-- queue's lease zset scores it after now, so a crashed worker's slots come back when
-- its leases expire.
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- KEYS[1+3j] -> asynq:{<qname>}:t:<id of task j> (j = 1..n)
-- KEYS[2+3j] -> asynq:{<qname>}:x:kslots:<key of task j>
-- KEYS[3+3j] -> asynq:{<qname>}:x:kwait:<key of task j>
-- ARGV[1]    -> now (unix seconds)
-- ARGV[2]    -> park until (unix seconds)
-- ARGV[3j]   -> id of task j
-- ARGV[3j+1] -> cap of task j's key
-- ARGV[3j+2] -> lease score this worker holds for task j
-- Output: one code per task: 1 slot taken, 2 parked, 0 lease lost (nothing written),
-- -1 not in active (nothing written).
--@include lease
local codes = {}
local now = tonumber(ARGV[1])
local n = (#KEYS - 3) / 3
for j = 1, n do
    local taskkey, slots, waiters = KEYS[1+3*j], KEYS[2+3*j], KEYS[3+3*j]
    local id, cap, held = ARGV[3*j], tonumber(ARGV[3*j+1]), ARGV[3*j+2]
    if not holds_lease(KEYS[2], id, held) then
        codes[j] = 0
    else
        for _, holder in ipairs(redis.call("ZRANGE", slots, 0, -1)) do
            local score = redis.call("ZSCORE", KEYS[2], holder)
            if holder ~= id and (not score or tonumber(score) <= now) then
                redis.call("ZREM", slots, holder)
            end
        end
        if redis.call("ZSCORE", slots, id) or redis.call("ZCARD", slots) < cap then
            redis.call("ZADD", slots, held, id)
            redis.call("ZREM", waiters, id)
            codes[j] = 1
        else
            codes[j] = take_active(KEYS[1], KEYS[2], id, held)
            if codes[j] == 1 then
                redis.call("HSET", taskkey, "state", "scheduled")
                redis.call("ZADD", KEYS[3], ARGV[2], id)
                redis.call("ZADD", waiters, "NX", now, id)
                codes[j] = 2
            end
        end
    end
end
return codes
