-- Move up to N tasks from pending to active under a lease, trying queues in order.
-- For queue i (1-based), four keys:
-- KEYS[4i-3] -> asynq:{<qname>}:pending
-- KEYS[4i-2] -> asynq:{<qname>}:paused
-- KEYS[4i-1] -> asynq:{<qname>}:active
-- KEYS[4i]   -> asynq:{<qname>}:lease
-- ARGV[1]   -> lease expiry (unix seconds)
-- ARGV[2]   -> most tasks to move (N)
-- ARGV[3]   -> most message bytes to move (0: no limit); at least one task always moves
-- ARGV[3+i] -> task key prefix of queue i (asynq:{<qname>}:t:); the task hash is
--              built from it because its id is only known here (same hash slot)
-- ARGV[3+n+i] -> quota of queue i (n queues; optional, 0 when absent): a first pass
--              takes up to each queue's quota, then what is still wanted comes from
--              the queues in order, so a batch follows the weights task by task
-- Output: a flat array of quadruples. {i, id, msg, pending_since} for a moved task
-- (state=active, pending_since removed, lease added, as Asynq's Dequeue; the removed
-- pending_since, unix ns or false, is returned for pickup-latency metrics).
-- {-i, id, reason, false} for an id whose task hash is missing or not a hash: it is
-- taken off active and gets no lease. {-i, "", reason, false} when queue i's keys
-- have the wrong type (queue skipped).
local out = {}
local want = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local bytes = 0  -- message bytes taken so far
local nq = #KEYS / 4
local function ok_type(key, expected)
    local t = redis.call("TYPE", key)["ok"]
    return t == "none" or t == expected
end
-- usable[i]: queue i is not paused and its keys have the right types (checked once;
-- a wrong type is reported once per call).
local usable = {}
local function is_usable(i)
    if usable[i] == nil then
        local pending, paused, active, lease = KEYS[4*i-3], KEYS[4*i-2], KEYS[4*i-1], KEYS[4*i]
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
    local pending, active, lease = KEYS[4*i-3], KEYS[4*i-1], KEYS[4*i]
    local prefix = ARGV[3+i]
    local leased = {}
    local moved = 0
    while n > 0 and not (budget > 0 and bytes >= budget) do
        -- Take the oldest `n` ids at once (as that many RPOPLPUSHes would,
        -- in three commands): LRANGE lists them head to tail. Sizes are read first
        -- (HSTRLEN, no copy) so the batch stops at the byte budget.
        local ids = redis.call("LRANGE", pending, -n, -1)
        local popped = {}
        for c = #ids, 1, -1 do
            if budget > 0 and bytes >= budget then break end
            local ok, size = pcall(redis.call, "HSTRLEN", prefix .. ids[c], "msg")
            if ok then bytes = bytes + size end
            popped[#popped + 1] = ids[c]
        end
        local k = #popped
        if k == 0 then break end
        redis.call("LTRIM", pending, 0, -k - 1)
        for c = 1, k, 4000 do
            redis.call("LPUSH", active, unpack(popped, c, math.min(c + 3999, k)))
        end
        for c = 1, k do
            local id = popped[c]
            local key = prefix .. id
            -- pcall: a key of another type answers WRONGTYPE instead of aborting the batch
            local got = redis.pcall("HMGET", key, "msg", "pending_since")
            local msg = got[1]
            if got.err or type(msg) ~= "string" then
                redis.call("LREM", active, 1, id)
                table.insert(out, -i); table.insert(out, id); table.insert(out, "task hash missing or not a hash"); table.insert(out, false)
            else
                redis.call("HSET", key, "state", "active")
                redis.call("HDEL", key, "pending_since")
                table.insert(leased, ARGV[1]); table.insert(leased, id)
                table.insert(out, i); table.insert(out, id); table.insert(out, msg); table.insert(out, got[2])
                n = n - 1
                moved = moved + 1
            end
        end
    end
    -- one ZADD for the batch (chunked below Lua's unpack limit)
    for c = 1, #leased, 4000 do
        redis.call("ZADD", lease, unpack(leased, c, math.min(c + 3999, #leased)))
    end
    return moved
end
for i = 1, nq do
    local quota = math.min(tonumber(ARGV[3+nq+i] or 0), want)
    if quota > 0 and is_usable(i) then
        want = want - take(i, quota)
    end
end
for i = 1, nq do
    if want <= 0 then break end
    if is_usable(i) then
        want = want - take(i, want)
    end
end
return out
