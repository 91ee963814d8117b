-- Sync one process's running tasks into its server's workers hash (Asynq's
-- asynq:workers:{host:pid:sid}); several processes of one server share the hash, so
-- a second hash names the process of each entry.
-- KEYS[1] -> asynq:workers:{<host:pid:sid>}
-- KEYS[2] -> fastq:workers:{<host:pid:sid>}:pids (task id -> worker process pid)
-- ARGV[1] -> TTL of both hashes (seconds)
-- ARGV[2] -> n: how many (task id, WorkerInfo) pairs follow
-- ARGV[3] -> pid of the calling worker process
-- ARGV[4 .. 3+2n] -> task id, encoded WorkerInfo (tasks that started)
-- ARGV[4+2n ..]   -> task ids that finished (removed)
-- Output: 1.
local n = tonumber(ARGV[2])
for i = 4, 3 + 2*n, 2 do
    redis.call("HSET", KEYS[1], ARGV[i], ARGV[i+1])
    redis.call("HSET", KEYS[2], ARGV[i], ARGV[3])
end
for i = 4 + 2*n, #ARGV do
    redis.call("HDEL", KEYS[1], ARGV[i])
    redis.call("HDEL", KEYS[2], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
redis.call("EXPIRE", KEYS[2], ARGV[1])
return 1
