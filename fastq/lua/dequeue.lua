-- Move up to N tasks from pending to active under a lease, trying queues in order.
-- For queue i (1-based), five keys:
-- KEYS[5i-4] -> asynq:{<qname>}:pending
-- KEYS[5i-3] -> asynq:{<qname>}:paused
-- KEYS[5i-2] -> asynq:{<qname>}:active
-- KEYS[5i-1] -> asynq:{<qname>}:lease
-- KEYS[5i]   -> asynq:{<qname>}:x:rate: (GCRA state of the queue's rate limit)
-- ARGV[1]   -> lease expiry (unix seconds)
-- ARGV[2]   -> most tasks to move (N)
-- ARGV[3]   -> most message bytes to move (0: no limit); at least one task always moves
-- ARGV[3+i] -> task key prefix of queue i (asynq:{<qname>}:t:); the task hash is
--              built from it because its id is only known here (same hash slot)
-- ARGV[3+n+i] -> quota of queue i (n queues; optional, 0 when absent): a first pass
--              takes up to each queue's quota, then what is still wanted comes from
--              the queues in order, so a batch follows the weights task by task
-- Flow control (optional, all absent when no queue is capped or rate limited):
-- ARGV[3+2n+i] -> concurrency cap of queue i (0: none): at most that many unexpired
--              leases in its lease zset after the fetch (the lease zset is the slot table)
-- ARGV[3+3n+i] -> GCRA interval (ms) of queue i's rate limit (0: none)
-- ARGV[3+4n+i] -> GCRA burst of queue i
-- ARGV[4+5n]   -> now (unix ms)
-- Output: a flat array of quadruples. {i, id, msg, pending_since} for a moved task
-- (state=active, pending_since removed, lease added, as Asynq's Dequeue; the removed
-- pending_since, unix ns or false, is returned for pickup-latency metrics).
-- {-i, id, reason, false} for an id whose task hash is missing or not a hash: it is
-- taken off active and gets no lease. {-i, "", reason, false} when queue i's keys
-- have the wrong type (queue skipped). {0, "rate", ms, false} when a rate-limited
-- queue still has pending tasks: its next token is due in ``ms`` milliseconds.
-- {0, "cap", 0, false} when a queue's cap held back tasks it has pending.
--@include gcra
local out = {}
local want = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local bytes = 0  -- message bytes taken so far
local nq = #KEYS / 5
local function ok_type(key, expected)
    local t = redis.call("TYPE", key)["ok"]
    return t == "none" or t == expected
end
-- usable[i]: queue i is not paused and its keys have the right types (checked once;
-- a wrong type is reported once per call).
local usable = {}
local function is_usable(i)
    if usable[i] == nil then
        local pending, paused, active, lease = KEYS[5*i-4], KEYS[5*i-3], KEYS[5*i-2], KEYS[5*i-1]
        if redis.call("EXISTS", paused) == 1 then
            usable[i] = false
        elseif not (ok_type(pending, "list") and ok_type(active, "list") and ok_type(lease, "zset")) then
            table.insert(out, -i); table.insert(out, ""); table.insert(out, "WRONGTYPE queue keys"); table.insert(out, false)
            usable[i] = false
        else
            usable[i] = true
        end
    end
    return usable[i]
end
-- Move up to n tasks of queue i; returns how many were moved.
local function take(i, n)
    local pending, active, lease = KEYS[5*i-4], KEYS[5*i-2], KEYS[5*i-1]
    local prefix = ARGV[3+i]
    local leased = {}
    local moved = 0
    while n > 0 and not (budget > 0 and bytes >= budget) do
        -- Take the oldest `n` ids at once (as that many RPOPLPUSHes would,
        -- in three commands): LRANGE lists them head to tail. Each message is read
        -- before the next id is taken, so the batch stops at the byte budget.
        local ids = redis.call("LRANGE", pending, -n, -1)
        local popped, good = 0, {}
        for c = #ids, 1, -1 do
            if budget > 0 and bytes >= budget then break end
            local id = ids[c]
            local key = prefix .. id
            popped = popped + 1
            -- pcall: a key of another type answers WRONGTYPE instead of aborting the batch
            local got = redis.pcall("HMGET", key, "msg", "pending_since")
            local msg = got[1]
            if got.err or type(msg) ~= "string" then
                -- taken off pending, never made active
                out[#out+1] = -i; out[#out+1] = id; out[#out+1] = "task hash missing or not a hash"; out[#out+1] = false
            else
                bytes = bytes + #msg
                redis.call("HSET", key, "state", "active")
                redis.call("HDEL", key, "pending_since")
                good[#good+1] = id
                leased[#leased+1] = ARGV[1]; leased[#leased+1] = id
                out[#out+1] = i; out[#out+1] = id; out[#out+1] = msg; out[#out+1] = got[2]
                n = n - 1
                moved = moved + 1
            end
        end
        if popped == 0 then break end
        redis.call("LTRIM", pending, 0, -popped - 1)
        for c = 1, #good, 4000 do
            redis.call("LPUSH", active, unpack(good, c, math.min(c + 3999, #good)))
        end
    end
    -- one ZADD for the batch (chunked below Lua's unpack limit)
    for c = 1, #leased, 4000 do
        redis.call("ZADD", lease, unpack(leased, c, math.min(c + 3999, #leased)))
    end
    return moved
end
local now_ms = tonumber(ARGV[4+5*nq] or 0)
-- take_limited(i, n): take(i, n) within queue i's cap and rate limit, if any.
local function take_limited(i, n)
    local cap = tonumber(ARGV[3+2*nq+i] or 0)
    if cap > 0 then
        local held = redis.call("ZCOUNT", KEYS[5*i-1], "(" .. math.floor(now_ms / 1000), "+inf")
        if cap - held < n and redis.call("LLEN", KEYS[5*i-4]) > 0 then
            table.insert(out, 0); table.insert(out, "cap"); table.insert(out, 0); table.insert(out, false)
        end
        n = math.min(n, cap - held)
    end
    local interval = tonumber(ARGV[3+3*nq+i] or 0)
    if interval == 0 or n <= 0 then
        return n > 0 and take(i, n) or 0
    end
    local burst = tonumber(ARGV[3+4*nq+i])
    local room, tat = gcra_room(KEYS[5*i], now_ms, interval, burst)
    local moved = room > 0 and take(i, math.min(n, room)) or 0
    local due = gcra_spend(KEYS[5*i], tat, moved, interval, burst, now_ms)
    if moved >= room and redis.call("LLEN", KEYS[5*i-4]) > 0 then
        table.insert(out, 0); table.insert(out, "rate"); table.insert(out, due); table.insert(out, false)
    end
    return moved
end
for i = 1, nq do
    local quota = math.min(tonumber(ARGV[3+nq+i] or 0), want)
    if quota > 0 and is_usable(i) then
        want = want - take_limited(i, quota)
    end
end
for i = 1, nq do
    if want <= 0 then break end
    if is_usable(i) then
        want = want - take_limited(i, want)
    end
end
return out
