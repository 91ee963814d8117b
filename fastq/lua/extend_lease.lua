-- Extend the leases this worker holds in one queue (Asynq ExtendLease, batched).
-- KEYS[1] -> asynq:{<qname>}:lease
-- ARGV[1] -> new lease expiry (unix seconds)
-- ARGV[2j], ARGV[2j+1] -> id of task j, the lease score this worker holds for it
-- Output: the ids whose lease is gone or held by someone else (not extended).
--@include lease
local lost = {}
for j = 1, (#ARGV - 1) / 2 do
    local id = ARGV[2*j]
    if not holds_lease(KEYS[1], id, ARGV[2*j+1]) then
        table.insert(lost, id)
    else
        redis.call("ZADD", KEYS[1], "XX", ARGV[1], id)
    end
end
return lost
