-- Drop WorkerInfo entries that a killed worker process left behind, but only if
-- they still hold the value the caller saw (a live process may have rewritten one).
-- KEYS[1] -> asynq:workers:{<host:pid:sid>}
-- ARGV[1 .. 2n] -> task id, the encoded WorkerInfo the caller found stale
-- Output: how many entries were removed.
local removed = 0
for i = 1, #ARGV, 2 do
    if redis.call("HGET", KEYS[1], ARGV[i]) == ARGV[i+1] then
        removed = removed + redis.call("HDEL", KEYS[1], ARGV[i])
    end
end
return removed
