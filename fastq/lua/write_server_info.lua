-- Write a server's heartbeat (Asynq WriteServerState, minus the workers hash, which
-- each worker process keeps in sync itself). The scores in asynq:servers and
-- asynq:workers are written by index_member calls (other hash slots).
-- KEYS[1] -> asynq:servers:{<host:pid:sid>}
-- KEYS[2] -> asynq:workers:{<host:pid:sid>}
-- ARGV[1] -> TTL (seconds)
-- ARGV[2] -> encoded ServerInfo
-- Output: 1.
redis.call("SETEX", KEYS[1], ARGV[1], ARGV[2])
redis.call("EXPIRE", KEYS[2], ARGV[1])
return 1
