-- Drop the WorkerInfo entries of one worker process that died (the supervisor
-- reaped it): its tasks are no longer running, whatever their leases say.
-- KEYS[1] -> asynq:workers:{<host:pid:sid>}
-- KEYS[2] -> fastq:workers:{<host:pid:sid>}:pids (task id -> worker process pid)
-- ARGV[1] -> pid of the dead worker process
-- Output: how many entries were removed.
local removed = 0
local owners = redis.call("HGETALL", KEYS[2])
for i = 1, #owners, 2 do
    if owners[i+1] == ARGV[1] then
        removed = removed + redis.call("HDEL", KEYS[1], owners[i])
        redis.call("HDEL", KEYS[2], owners[i])
    end
end
return removed
