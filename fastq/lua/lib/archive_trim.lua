-- trim_archive(archived, prefix, cutoff, max_size, limit): delete the archived tasks
-- scored at or before ``cutoff`` (unix seconds), then the oldest beyond the newest
-- ``max_size``, with their hashes (``prefix`` .. id), at most ``limit`` ids per call so
-- one call never blocks Redis for long (the janitor's archive_trim finishes the rest).
-- Returns the number of tasks deleted.
local TRIM_BATCH = 100  -- ids one acknowledgement, recovery or Inspector call trims at most
local function trim_archive(archived, prefix, cutoff, max_size, limit)
    local n = 0
    for _, id in ipairs(redis.call("ZRANGEBYSCORE", archived, "-inf", cutoff, "LIMIT", 0, limit)) do
        redis.call("DEL", prefix .. id)
        redis.call("ZREM", archived, id)
        n = n + 1
    end
    local extra = math.min(redis.call("ZCARD", archived) - tonumber(max_size), limit - n)
    if extra > 0 then
        for _, id in ipairs(redis.call("ZRANGE", archived, 0, extra - 1)) do
            redis.call("DEL", prefix .. id)
            redis.call("ZREM", archived, id)
            n = n + 1
        end
    end
    return n
end
