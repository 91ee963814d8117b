-- Acknowledge a batch of successful tasks of one queue: delete each (Asynq Done) or
-- keep it as completed until its retention ends (Asynq MarkAsComplete).
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:completed
-- KEYS[4] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[5] -> asynq:{<qname>}:processed
-- KEYS[6] -> asynq:{<qname>}:x:recovered
-- KEYS[5+2j]   -> asynq:{<qname>}:t:<id of task j> (j = 1..n)
-- KEYS[6+2j]   -> the unique lock key of task j, or the task key again when it has none
-- ARGV[1]      -> daily stats expiry (unix seconds)
-- ARGV[4j-2]   -> id of task j
-- ARGV[4j-1]   -> lease score this worker holds for task j
-- ARGV[4j]     -> completed expiry (unix seconds; 0 deletes the task)
-- ARGV[4j+1]   -> updated message with completed_at (used when kept as completed)
-- Output: one code per task: 1 acknowledged, 0 lease lost (nothing written),
-- -1 not in active (nothing written).
local codes = {}
local done = 0
local n = (#KEYS - 6) / 2
local acked, dels, recov = {}, {}, {}
local recovered = redis.call("EXISTS", KEYS[6]) == 1
-- One ZMSCORE for the batch's lease scores (Redis >= 6.2; one ZSCORE each before).
local ids = {}
for j = 1, n do ids[j] = ARGV[4*j-2] end
local scores = {}
for c = 1, n, 4000 do
    local part = redis.pcall("ZMSCORE", KEYS[2], unpack(ids, c, math.min(c + 3999, n)))
    if type(part) ~= "table" or part.err then
        for j = c, math.min(c + 3999, n) do scores[j] = redis.call("ZSCORE", KEYS[2], ids[j]) end
    else
        for j = 1, #part do scores[c + j - 1] = part[j] end
    end
end
for j = 1, n do
    local taskkey, uniquekey = KEYS[5+2*j], KEYS[6+2*j]
    local id, held = ids[j], ARGV[4*j-1]
    local expiry = tonumber(ARGV[4*j])
    local score = scores[j]
    if (not score) or tonumber(score) ~= tonumber(held) then
        codes[j] = 0
    elseif redis.call("LREM", KEYS[1], -1, id) == 0 then
        codes[j] = -1
    else
        table.insert(acked, id)
        if expiry == 0 then
            table.insert(dels, taskkey)
        else
            redis.call("ZADD", KEYS[3], expiry, id)
            redis.call("HSET", taskkey, "msg", ARGV[4*j+1], "state", "completed")
        end
        if uniquekey ~= taskkey and redis.call("GET", uniquekey) == id then
            table.insert(dels, uniquekey)
        end
        if recovered then
            table.insert(recov, id)
        end
        done = done + 1
        codes[j] = 1
    end
end
-- Batched deletes (chunked below Lua's unpack limit).
for c = 1, #dels, 4000 do
    redis.call("DEL", unpack(dels, c, math.min(c + 3999, #dels)))
end
for c = 1, #recov, 4000 do
    redis.call("HDEL", KEYS[6], unpack(recov, c, math.min(c + 3999, #recov)))
end
for c = 1, #acked, 4000 do
    redis.call("ZREM", KEYS[2], unpack(acked, c, math.min(c + 3999, #acked)))
end
if done > 0 then
    if redis.call("INCRBY", KEYS[4], done) == done then
        redis.call("EXPIREAT", KEYS[4], ARGV[1])
    end
    redis.call("INCRBY", KEYS[5], done)
end
return codes
