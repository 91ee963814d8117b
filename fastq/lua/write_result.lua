-- Store a handler's result in its task hash at once (Asynq ResultWriter.Write), only
-- while the writer still holds the task's lease: a run whose lease was lost (the task
-- recovered, maybe running elsewhere) writes nothing.
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:lease
-- ARGV[1] -> result bytes
-- ARGV[2] -> task id
-- ARGV[3 ..] -> the lease scores the writer may hold (its lease, and the score of an
--               extension of it still in flight)
-- Output: 1 written, 0 the lease is not held (nothing written).
--@include lease
for i = 3, #ARGV do
    if holds_lease(KEYS[2], ARGV[2], ARGV[i]) then
        redis.call("HSET", KEYS[1], "result", ARGV[1])
        return 1
    end
end
return 0
