-- holds_lease(lease, id, held): true when the lease zset ``lease`` scores task ``id``
-- at exactly ``held``, the lease score the caller was given at dequeue (or last
-- extension). Anything else means the lease expired, was recovered or re-leased.
local function holds_lease(lease, id, held)
    local score = redis.call("ZSCORE", lease, id)
    return score ~= false and tonumber(score) == tonumber(held)
end

-- take_active(active, lease, id, held): take task ``id``, which the caller holds at
-- lease score ``held``, off the active list and the lease zset. Returns 1 when done,
-- 0 when the lease is lost, -1 when the task is not active (nothing written then).
local function take_active(active, lease, id, held)
    if not holds_lease(lease, id, held) then
        return 0
    end
    if redis.call("LREM", active, 0, id) == 0 then
        return -1
    end
    redis.call("ZREM", lease, id)
    return 1
end
