-- Delete a stopping scheduler's entries (Asynq's ClearSchedulerEntries); the caller
-- removes the key from asynq:schedulers with index_member.lua (another hash slot).
-- KEYS[1] -> asynq:schedulers:{<scheduler id>}
-- Output: 1.
redis.call("DEL", KEYS[1])
return 1
