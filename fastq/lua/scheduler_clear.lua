-- Remove a stopping scheduler's entries (Asynq's ClearSchedulerEntries).
-- KEYS[1] -> asynq:schedulers:{<scheduler id>}
-- KEYS[2] -> asynq:schedulers
-- Output: 1.
redis.call("ZREM", KEYS[2], KEYS[1])
redis.call("DEL", KEYS[1])
return 1
