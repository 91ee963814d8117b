-- Move a group's tasks into a new aggregation set when the group is due (Asynq's
-- AggregationCheck, same criteria and same writes, so Go servers share the work).
-- Due when: the group holds max size tasks (the oldest max size move); or its oldest
-- task has waited max delay; or its newest task is older than the grace period.
-- KEYS[1] -> asynq:{<qname>}:g:<group>
-- KEYS[2] -> asynq:{<qname>}:g:<group>:<aggregation set id>
-- KEYS[3] -> asynq:{<qname>}:aggregation_sets
-- KEYS[4] -> asynq:{<qname>}:groups
-- ARGV[1] -> max group size (0: no limit)
-- ARGV[2] -> max delay in seconds (0: no limit)
-- ARGV[3] -> grace period in seconds
-- ARGV[4] -> the aggregation set's deadline (unix seconds), after which it is reclaimed
-- ARGV[5] -> now (unix seconds)
-- ARGV[6] -> group name
-- Output: 1 when a set was created; 0 when the group is not due (nothing written).
local size = redis.call("ZCARD", KEYS[1])
if size == 0 then
    return 0
end
local maxSize = tonumber(ARGV[1])
local now = tonumber(ARGV[5])
local due = maxSize ~= 0 and size >= maxSize
if not due and tonumber(ARGV[2]) ~= 0 then
    local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
    due = tonumber(oldest[2]) <= now - tonumber(ARGV[2])
end
if not due then
    local newest = redis.call("ZREVRANGE", KEYS[1], 0, 0, "WITHSCORES")
    due = tonumber(newest[2]) <= now - tonumber(ARGV[3])
end
if not due then
    return 0
end
local res = redis.call("ZRANGE", KEYS[1], 0, maxSize - 1, "WITHSCORES")
for i = 1, #res - 1, 2 do
    redis.call("ZADD", KEYS[2], tonumber(res[i + 1]), res[i])
end
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, maxSize - 1)
redis.call("ZADD", KEYS[3], ARGV[4], KEYS[2])
if size <= maxSize or maxSize == 0 then
    redis.call("SREM", KEYS[4], ARGV[6])
end
return 1
