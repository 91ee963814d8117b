-- Sync one process's running tasks into its server's workers hash (Asynq's
-- asynq:workers:{host:pid:sid}); several processes of one server share the hash.
-- KEYS[1] -> asynq:workers:{<host:pid:sid>}
-- ARGV[1] -> TTL of the hash (seconds)
-- ARGV[2] -> n: how many (task id, WorkerInfo) pairs follow
-- ARGV[3 .. 2+2n] -> task id, encoded WorkerInfo (tasks that started)
-- ARGV[3+2n ..]   -> task ids that finished (removed)
-- Output: 1.
local n = tonumber(ARGV[2])
for i = 3, 2 + 2*n, 2 do
    redis.call("HSET", KEYS[1], ARGV[i], ARGV[i+1])
end
for i = 3 + 2*n, #ARGV do
    redis.call("HDEL", KEYS[1], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return 1
