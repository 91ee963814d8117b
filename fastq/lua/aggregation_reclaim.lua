-- Put the tasks of a stale aggregation set (its aggregator died or overran the
-- deadline) back into their group (Asynq's ReclaimStaleAggregationSets, one set).
-- Unlike Asynq it also adds the group name back to the groups set: a set that had
-- emptied its group would otherwise never be checked again.
-- KEYS[1] -> asynq:{<qname>}:g:<group>:<aggregation set id>
-- KEYS[2] -> asynq:{<qname>}:g:<group>
-- KEYS[3] -> asynq:{<qname>}:aggregation_sets
-- KEYS[4] -> asynq:{<qname>}:groups
-- ARGV[1] -> now (unix seconds): only a set whose deadline is <= now is reclaimed
-- ARGV[2] -> group name
-- Output: the number of tasks put back; -1 when the set is not stale (not listed, or
-- its deadline is in the future): nothing written.
local deadline = redis.call("ZSCORE", KEYS[3], KEYS[1])
if not deadline or tonumber(deadline) > tonumber(ARGV[1]) then
    return -1
end
local res = redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")
for i = 1, #res - 1, 2 do
    redis.call("ZADD", KEYS[2], tonumber(res[i + 1]), res[i])
end
if #res > 0 then
    redis.call("SADD", KEYS[4], ARGV[2])
end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[3], KEYS[1])
return #res / 2
