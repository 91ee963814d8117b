-- holds_lease(lease, id, held): true when the lease zset ``lease`` scores task ``id``
-- at exactly ``held``, the lease score the caller was given at dequeue (or last
-- extension). Anything else means the lease expired, was recovered or re-leased.
local function holds_lease(lease, id, held)
    local score = redis.call("ZSCORE", lease, id)
    return score ~= false and tonumber(score) == tonumber(held)
end
