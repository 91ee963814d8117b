-- List tasks of one queue whose lease expired (Asynq ListLeaseExpired).
-- KEYS[1] -> asynq:{<qname>}:lease
-- KEYS[2] -> asynq:{<qname>}:x:recovered
-- ARGV[1] -> cutoff (unix seconds): leases at or before it have expired
-- ARGV[2] -> most tasks to list
-- ARGV[3] -> task key prefix (asynq:{<qname>}:t:); task hashes are built from it
--            because their ids are only known here
-- Output: a flat array of quadruples {id, lease score, msg or "", times recovered}.
local out = {}
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "WITHSCORES", "LIMIT", 0, tonumber(ARGV[2]))
for i = 1, #ids, 2 do
    local id = ids[i]
    local msg = false
    if redis.call("TYPE", ARGV[3] .. id)["ok"] == "hash" then
        msg = redis.call("HGET", ARGV[3] .. id, "msg")
    end
    table.insert(out, id)
    table.insert(out, ids[i+1])
    table.insert(out, msg or "")
    table.insert(out, tonumber(redis.call("HGET", KEYS[2], id) or "0"))
end
return out
