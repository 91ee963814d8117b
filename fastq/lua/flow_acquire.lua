-- Admit fetched tasks whose type declares a per-key cap and/or a per-type rate limit,
-- or park them. A task over its type's rate limit (GCRA) goes to scheduled at the
-- time its next token is due; a task whose key has no free slot goes to scheduled
-- for ARGV[2] at most and to the key's waiters (a release wakes it sooner). Either
-- way it leaves active and its lease with its message untouched: no retry is used.
-- A slot's holder is live while the queue's lease zset scores it after now, so a
-- crashed worker's slots come back when its leases expire.
-- KEYS[1] -> asynq:{<qname>}:active
-- KEYS[2] -> asynq:{<qname>}:lease
-- KEYS[3] -> asynq:{<qname>}:scheduled
-- KEYS[4j]   -> asynq:{<qname>}:t:<id of task j> (j = 1..n)
-- KEYS[4j+1] -> asynq:{<qname>}:x:kslots:<key of task j> (the task key again: no key cap)
-- KEYS[4j+2] -> asynq:{<qname>}:x:kwait:<key of task j> (the task key again: no key cap)
-- KEYS[4j+3] -> asynq:{<qname>}:x:rate:<type of task j> (the task key again: no rate limit)
-- ARGV[1]    -> now (unix ms)
-- ARGV[2]    -> longest wait of a task parked for a key slot (seconds)
-- ARGV[5j-2] -> id of task j
-- ARGV[5j-1] -> lease score this worker holds for task j
-- ARGV[5j]   -> cap of task j's key (0: no key cap)
-- ARGV[5j+1] -> GCRA interval (ms) of task j's type (0: no rate limit)
-- ARGV[5j+2] -> GCRA burst of task j's type
-- Output: one code per task: 1 admitted (slot taken, token spent), 2 parked for a key
-- slot, 3 parked for a rate token, 0 lease lost, -1 not in active (nothing written).
--@include lease
--@include gcra
local codes = {}
local now_ms = tonumber(ARGV[1])
local now = math.floor(now_ms / 1000)
local n = (#KEYS - 3) / 4
local function park(j, id, held, at)
    local code = take_active(KEYS[1], KEYS[2], id, held)
    if code == 1 then
        redis.call("HSET", KEYS[4*j], "state", "scheduled")
        redis.call("ZADD", KEYS[3], at, id)
    end
    return code
end
local function slot_free(slots, id, cap)
    for _, holder in ipairs(redis.call("ZRANGE", slots, 0, -1)) do
        local score = redis.call("ZSCORE", KEYS[2], holder)
        if holder ~= id and (not score or tonumber(score) <= now) then
            redis.call("ZREM", slots, holder)
        end
    end
    return redis.call("ZSCORE", slots, id) or redis.call("ZCARD", slots) < cap
end
for j = 1, n do
    local slots, waiters, rate = KEYS[4*j+1], KEYS[4*j+2], KEYS[4*j+3]
    local id, held = ARGV[5*j-2], ARGV[5*j-1]
    local cap, interval, burst = tonumber(ARGV[5*j]), tonumber(ARGV[5*j+1]), tonumber(ARGV[5*j+2])
    local room, tat = 1, 0
    if not holds_lease(KEYS[2], id, held) then
        codes[j] = 0
    else
        if interval > 0 then
            room, tat = gcra_room(rate, now_ms, interval, burst)
        end
        if room < 1 then
            local due = gcra_spend(rate, tat, 0, interval, burst, now_ms)
            codes[j] = park(j, id, held, math.ceil((now_ms + due) / 1000))
            if codes[j] == 1 then codes[j] = 3 end
        elseif cap > 0 and not slot_free(slots, id, cap) then
            codes[j] = park(j, id, held, now + tonumber(ARGV[2]))
            if codes[j] == 1 then
                redis.call("ZADD", waiters, "NX", now, id)
                codes[j] = 2
            end
        else
            if cap > 0 then
                redis.call("ZADD", slots, held, id)
                redis.call("ZREM", waiters, id)
            end
            if interval > 0 then
                gcra_spend(rate, tat, 1, interval, burst, now_ms)
            end
            codes[j] = 1
        end
    end
end
return codes
