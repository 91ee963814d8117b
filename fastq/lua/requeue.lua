-- Put unfinished active tasks of one queue back at the head of pending without
-- burning a retry (Asynq Requeue, used on shutdown), and wake idle workers.
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:pending
-- KEYS[4] -> asynq:{<qname>}:x:wake
-- KEYS[4+j] -> asynq:{<qname>}:t:<id of task j> (j = 1..n)
-- ARGV[1]    -> most wake tokens kept in the wake list
-- ARGV[2j]   -> id of task j
-- ARGV[2j+1] -> lease score this worker holds for task j
-- Output: one code per task: 1 requeued, 0 lease lost, -1 not in active (nothing written).
--@include lease
--@include wake
local codes = {}
local n = #KEYS - 4
local requeued = 0
for j = 1, n do
    local id = ARGV[2*j]
    codes[j] = take_active(KEYS[1], KEYS[2], id, ARGV[2*j+1])
    if codes[j] == 1 then
        redis.call("RPUSH", KEYS[3], id)
        redis.call("HSET", KEYS[4+j], "state", "pending")
        requeued = requeued + 1
    end
end
wake(KEYS[4], requeued, ARGV[1])
return codes
