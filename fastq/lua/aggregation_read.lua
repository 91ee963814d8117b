-- Read an aggregation set's tasks (Asynq's ReadAggregationSet).
-- KEYS[1] -> asynq:{<qname>}:g:<group>:<aggregation set id>
-- KEYS[2] -> asynq:{<qname>}:aggregation_sets
-- ARGV[1] -> task key prefix asynq:{<qname>}:t: (the set's member ids are only known
--            here, so their hashes are built from it; same hash slot)
-- Output: {deadline or false, id1, msg1, id2, msg2, ...}; a msg is false when the
-- task hash is gone.
local out = {redis.call("ZSCORE", KEYS[2], KEYS[1])}
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
    table.insert(out, id)
    table.insert(out, redis.call("HGET", ARGV[1] .. id, "msg"))
end
return out
