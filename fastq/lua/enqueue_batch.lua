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
-- with that id already exists (that task is skipped; the others go on). An error
-- reply, before anything is written, if the pending or wake key is not a list.
--@include wake
for _, key in ipairs({KEYS[1], KEYS[2]}) do
    local t = redis.call("TYPE", key)["ok"]
    if t ~= "list" and t ~= "none" then
        -- Checked up front: a failing LPUSH at the end would strand the hashes above it.
        return redis.error_reply("WRONGTYPE " .. key .. " is a " .. t .. ", not a list")
    end
end
local out = {}
local ids = {}
local n = #KEYS - 2
-- One EXISTS over the whole batch: in the usual case no id is taken and the
-- per-task check is skipped. seen[] catches an id repeated within the batch.
local any_taken = n > 0 and redis.call("EXISTS", unpack(KEYS, 3, n + 2)) > 0
local seen = {}
for i = 1, n do
    local key = KEYS[2 + i]
    if seen[key] or (any_taken and redis.call("EXISTS", key) == 1) then
        out[i] = 0
    else
        seen[key] = true
        redis.call("HSET", key, "msg", ARGV[1 + 2 * i], "state", "pending", "pending_since", ARGV[1])
        ids[#ids + 1] = ARGV[2 + 2 * i]
        out[i] = 1
    end
end
-- One LPUSH per chunk instead of per task: LPUSH k a b c leaves the same order as
-- three LPUSHes; chunks stay well under Lua's unpack() stack limit.
for first = 1, #ids, 1000 do
    redis.call("LPUSH", KEYS[1], unpack(ids, first, math.min(first + 999, #ids)))
end
wake(KEYS[2], #ids, ARGV[2])
return out
