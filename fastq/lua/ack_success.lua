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
local lease = KEYS[2]
local dels, recov = {}, {}
local recovered = redis.call("EXISTS", KEYS[6]) == 1
local ids = {}
for j = 1, n do ids[j] = ARGV[4*j-2] end
-- owned[j]: the lease zset holds task j at exactly the score this worker holds.
local owned = {}
-- A small lease zset is listpack (ziplist) encoded: each member lookup or
-- removal is a linear scan. Then read the members of each distinct held score
-- once (a batch usually shares one or two) and remove a whole score at once when
-- all of its members are acked here. A skiplist zset gets one ZMSCORE instead.
local by_score = nil
local enc = redis.pcall("OBJECT", "ENCODING", lease)
if enc == "ziplist" or enc == "listpack" then
    by_score = {}
    for j = 1, n do
        local held = ARGV[4*j-1]
        local group = by_score[held]
        if group == nil then
            local members = redis.call("ZRANGEBYSCORE", lease, held, held)
            local set = {}
            for _, m in ipairs(members) do set[m] = true end
            group = {set = set, total = #members, acked = {}}
            by_score[held] = group
        end
        owned[j] = group.set[ids[j]] == true
    end
else
    for c = 1, n, 4000 do
        local last = math.min(c + 3999, n)
        local part = redis.pcall("ZMSCORE", lease, unpack(ids, c, last))
        for j = c, last do
            local score
            if type(part) ~= "table" or part.err then  -- Redis < 6.2: no ZMSCORE
                score = redis.call("ZSCORE", lease, ids[j])
            else
                score = part[j - c + 1]
            end
            owned[j] = score and tonumber(score) == tonumber(ARGV[4*j-1]) or false
        end
    end
end
local acked = {}
for j = 1, n do
    local taskkey, uniquekey = KEYS[5+2*j], KEYS[6+2*j]
    local id = ids[j]
    local expiry = tonumber(ARGV[4*j])
    if not owned[j] then
        codes[j] = 0
    elseif redis.call("LREM", KEYS[1], -1, id) == 0 then
        codes[j] = -1
    else
        if by_score then
            local group = by_score[ARGV[4*j-1]]
            table.insert(group.acked, id)
        else
            table.insert(acked, id)
        end
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
if by_score then
    for held, group in pairs(by_score) do
        if #group.acked > 0 and #group.acked == group.total then
            redis.call("ZREMRANGEBYSCORE", lease, held, held)
        else
            for _, id in ipairs(group.acked) do table.insert(acked, id) end
        end
    end
end
-- Batched deletes (chunked below Lua's unpack limit).
for c = 1, #acked, 4000 do
    redis.call("ZREM", lease, unpack(acked, c, math.min(c + 3999, #acked)))
end
for c = 1, #dels, 4000 do
    redis.call("DEL", unpack(dels, c, math.min(c + 3999, #dels)))
end
for c = 1, #recov, 4000 do
    redis.call("HDEL", KEYS[6], unpack(recov, c, math.min(c + 3999, #recov)))
end
if done > 0 then
    if redis.call("INCRBY", KEYS[4], done) == done then
        redis.call("EXPIREAT", KEYS[4], ARGV[1])
    end
    redis.call("INCRBY", KEYS[5], done)
end
return codes
