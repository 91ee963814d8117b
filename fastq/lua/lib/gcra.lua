-- GCRA (Generic Cell Rate Algorithm). ``key`` holds the theoretical arrival time
-- (TAT, unix ms); a request at ``now`` (ms) conforms while TAT - now <= (burst - 1) *
-- interval, and each conforming request moves TAT on by ``interval`` ms.
-- gcra_room(key, now, interval, burst): how many requests conform now, and the TAT.
local function gcra_room(key, now, interval, burst)
    -- pcall: a key of another type reads as no state (gcra_spend's SET replaces it)
    local stored = redis.pcall("GET", key)
    local tat = type(stored) == "string" and tonumber(stored) or 0
    if tat < now then tat = now end
    local tau = (burst - 1) * interval
    local room = math.floor((now + tau - tat) / interval) + 1
    if room < 0 then room = 0 end
    return room, tat
end

-- gcra_spend(key, tat, n, interval, burst, now): spend ``n`` tokens from TAT ``tat``
-- (the key expires a second after the limit is idle again); returns the ms until
-- the next token is due (at least 1).
local function gcra_spend(key, tat, n, interval, burst, now)
    local new = tat + n * interval
    if n > 0 then
        redis.call("SET", key, new, "PX", new - now + 1000)
    end
    return math.max(1, new - (burst - 1) * interval - now)
end
