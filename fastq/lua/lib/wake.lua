-- wake(key, n, cap): push tokens on the wake list ``key`` (one per task made
-- pending, so that many blocked workers return from BLPOP) until it holds ``cap``,
-- so a list nobody pops stays small. A list that already holds ``cap`` tokens gets
-- none: no worker can be blocked on a non-empty list, and the list ends the same
-- as after pushing and trimming, for one LLEN instead of an LPUSH and an LTRIM.
local function wake(key, n, cap)
    if n <= 0 then return end
    local room = tonumber(cap) - redis.call("LLEN", key)
    for _ = 1, math.min(n, room) do
        redis.call("LPUSH", key, "1")
    end
end
