-- Store a handler's result in its task hash (Asynq ResultWriter), if the task exists.
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- ARGV[1] -> result bytes
-- Output: 1 written, 0 the task hash does not exist.
if redis.call("EXISTS", KEYS[1]) == 0 then
    return 0
end
redis.call("HSET", KEYS[1], "result", ARGV[1])
return 1
