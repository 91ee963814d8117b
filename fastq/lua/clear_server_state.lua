-- Remove a server's heartbeat keys when it exits (Asynq ClearServerState); the
-- asynq:servers / asynq:workers entries go by index_member calls (other hash slots).
-- KEYS[1] -> asynq:servers:{<host:pid:sid>}
-- KEYS[2] -> asynq:workers:{<host:pid:sid>}
-- KEYS[3] -> fastq:workers:{<host:pid:sid>}:pids
-- Output: 1.
redis.call("DEL", KEYS[1], KEYS[2], KEYS[3])
return 1
