-- Write a server's heartbeat (Asynq WriteServerState, minus the workers hash, which
-- each worker process keeps in sync itself).
-- KEYS[1] -> asynq:servers:{<host:pid:sid>}
-- KEYS[2] -> asynq:workers:{<host:pid:sid>}
-- KEYS[3] -> asynq:servers
-- KEYS[4] -> asynq:workers
-- ARGV[1] -> TTL (seconds)
-- ARGV[2] -> encoded ServerInfo
-- ARGV[3] -> expiry (unix seconds) for the asynq:servers / asynq:workers scores
-- Output: 1.
redis.call("SETEX", KEYS[1], ARGV[1], ARGV[2])
redis.call("ZADD", KEYS[3], ARGV[3], KEYS[1])
redis.call("ZADD", KEYS[4], ARGV[3], KEYS[2])
redis.call("EXPIRE", KEYS[2], ARGV[1])
return 1
