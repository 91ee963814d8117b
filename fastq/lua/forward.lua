-- Move due tasks of one queue from scheduled or retry to pending, or into their group
-- when they have one (Asynq ForwardIfReady), and wake idle workers for pending ones.
-- KEYS[1] -> source: asynq:{<qname>}:scheduled or asynq:{<qname>}:retry
-- KEYS[2] -> asynq:{<qname>}:pending
-- KEYS[3] -> asynq:{<qname>}:groups
-- KEYS[4] -> asynq:{<qname>}:x:wake
-- ARGV[1] -> now (unix seconds)
-- ARGV[2] -> now (unix nanoseconds), the pending_since stamp
-- ARGV[3] -> most tasks to move
-- ARGV[4] -> task key prefix (asynq:{<qname>}:t:)
-- ARGV[5] -> group key prefix (asynq:{<qname>}:g:)
--            (task and group keys are built from these prefixes because the ids
--            and group names are only known here; both share the queue's hash slot)
-- ARGV[6] -> most wake tokens kept in the wake list
-- Output: the number of tasks moved.
--@include wake
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
local woken = 0
for _, id in ipairs(ids) do
    local taskkey = ARGV[4] .. id
    local group = redis.call("HGET", taskkey, "group")
    if group and group ~= "" then
        redis.call("ZADD", ARGV[5] .. group, ARGV[1], id)
        redis.call("SADD", KEYS[3], group)
        redis.call("ZREM", KEYS[1], id)
        redis.call("HSET", taskkey, "state", "aggregating")
    else
        redis.call("LPUSH", KEYS[2], id)
        redis.call("ZREM", KEYS[1], id)
        redis.call("HSET", taskkey, "state", "pending", "pending_since", ARGV[2])
        woken = woken + 1
    end
end
wake(KEYS[4], woken, ARGV[6])
return #ids
