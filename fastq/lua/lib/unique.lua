-- claim_unique(taskkey, lock, id, ttl): the checks of every unique enqueue, in order:
-- 0 when a task with this id exists, -1 when the uniqueness lock is held by another
-- task, else the lock is taken for ``ttl`` seconds and 1 returned. The id check runs
-- before the lock is taken (Asynq takes the lock first) so that a refused task never
-- leaves a lock behind that blocks the next legitimate one.
local function claim_unique(taskkey, lock, id, ttl)
    if redis.call("EXISTS", taskkey) == 1 then
        return 0
    end
    if not redis.call("SET", lock, id, "NX", "EX", ttl) then
        return -1
    end
    return 1
end
