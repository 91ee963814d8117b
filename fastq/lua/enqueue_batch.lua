-- Enqueue many tasks of one queue for immediate processing: Asynq's Enqueue for each
-- task in turn, in one script call (enqueue_many's fast path for plain tasks), then
-- wake idle workers once.
-- KEYS[1]   -> asynq:{<qname>}:pending
-- KEYS[2]   -> asynq:{<qname>}:x:wake (fastq extension; Asynq never reads it)
-- KEYS[2+i] -> asynq:{<qname>}:t:<task_id i>, for i = 1..n
-- ARGV[1]     -> now (unix nanoseconds): the pending_since stamp
-- ARGV[2]     -> most wake tokens kept in the wake list
-- ARGV[1+2i]  -> encoded TaskMessage of task i
-- ARGV[2+2i]  -> id of task i
-- Output: an array with one code per task, in order: 1 when enqueued; 0 when a task
-- with that id already exists (that task is skipped; the others go on).
local out = {}
local added = 0
for i = 1, #KEYS - 2 do
    local key = KEYS[2 + i]
    if redis.call("EXISTS", key) == 1 then
        out[i] = 0
    else
        local id = ARGV[2 + 2 * i]
        redis.call("HSET", key, "msg", ARGV[1 + 2 * i], "state", "pending", "pending_since", ARGV[1])
        redis.call("LPUSH", KEYS[1], id)
        out[i] = 1
        added = added + 1
    end
end
local cap = tonumber(ARGV[2])
if added > 0 then
    for _ = 1, math.min(added, cap) do
        redis.call("LPUSH", KEYS[2], "1")
    end
    redis.call("LTRIM", KEYS[2], 0, cap - 1)
end
return out
