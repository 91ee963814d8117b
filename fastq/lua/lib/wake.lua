-- wake(key, n, cap): push min(n, cap) tokens on the wake list ``key`` (one per task
-- made pending, so that many blocked workers return from BLPOP) and keep at most
-- ``cap`` tokens, so a list nobody pops stays small.
local function wake(key, n, cap)
    cap = tonumber(cap)
    if n <= 0 then return end
    for _ = 1, math.min(n, cap) do
        redis.call("LPUSH", key, "1")
    end
    redis.call("LTRIM", key, 0, cap - 1)
end
