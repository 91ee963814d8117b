-- Release the concurrency-key slots of finished tasks of one queue: for each freed
-- slot, the oldest parked task of that key still in scheduled goes to the head of
-- pending (next out); then wake idle workers (also for freed queue-cap slots).
-- KEYS[1] -> asynq:{<qname>}:scheduled
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:x:wake
-- KEYS[2+2j] -> asynq:{<qname>}:x:kslots:<key of task j> (j = 1..n)
-- KEYS[3+2j] -> asynq:{<qname>}:x:kwait:<key of task j>
-- ARGV[1]   -> most wake tokens kept in the wake list
-- ARGV[2]   -> task key prefix (asynq:{<qname>}:t:); a woken task's hash is built from
--              it because its id is only known here (same hash slot)
-- ARGV[3]   -> now (unix nanoseconds, the woken task's pending_since)
-- ARGV[4]   -> wake tokens owed for freed queue-cap slots
-- ARGV[4+j] -> id of task j
-- Output: the number of parked tasks made pending.
--@include wake
local n = (#KEYS - 3) / 2
local woken = 0
for j = 1, n do
    local slots, waiters = KEYS[2+2*j], KEYS[3+2*j]
    if redis.call("ZREM", slots, ARGV[4+j]) == 1 then
        while true do
            local popped = redis.call("ZPOPMIN", waiters)
            if #popped == 0 then break end
            local id = popped[1]
            if redis.call("ZREM", KEYS[1], id) == 1 then
                redis.call("RPUSH", KEYS[2], id)
                redis.call("HSET", ARGV[2] .. id, "state", "pending", "pending_since", ARGV[3])
                woken = woken + 1
                break
            end
        end
    end
end
wake(KEYS[3], woken + tonumber(ARGV[4]), ARGV[1])
return woken
