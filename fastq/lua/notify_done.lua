-- Wake the callers waiting for tasks that kept a result (``client.wait``): for each
-- task now completed or archived, push one token on its done list, which expires
-- with the task's retention. Sent in the pipeline that acknowledges the tasks.
-- KEYS[2j-1] -> asynq:{<qname>}:t:<id of task j> (j = 1..n)
-- KEYS[2j]   -> asynq:{<qname>}:x:done:<id of task j>
-- ARGV[j]    -> seconds the token of task j lasts (its retention)
-- Output: the number of tokens pushed.
local pushed = 0
for j = 1, #KEYS / 2 do
    local state = redis.pcall("HGET", KEYS[2*j-1], "state")
    if state == "completed" or state == "archived" then
        redis.call("DEL", KEYS[2*j])
        redis.call("RPUSH", KEYS[2*j], "1")
        redis.call("EXPIRE", KEYS[2*j], ARGV[j])
        pushed = pushed + 1
    end
end
return pushed
