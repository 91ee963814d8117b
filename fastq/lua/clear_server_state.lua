-- Remove a server's heartbeat keys when it exits (Asynq ClearServerState).
-- KEYS[1] -> asynq:servers:{<host:pid:sid>}
-- KEYS[2] -> asynq:workers:{<host:pid:sid>}
-- KEYS[3] -> asynq:servers
-- KEYS[4] -> asynq:workers
-- KEYS[5] -> fastq:workers:{<host:pid:sid>}:pids
-- Output: 1.
redis.call("ZREM", KEYS[3], KEYS[1])
redis.call("ZREM", KEYS[4], KEYS[2])
redis.call("DEL", KEYS[1], KEYS[2], KEYS[5])
return 1
