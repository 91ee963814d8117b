-- count_failure(processed_day, failed_day, processed, failed, expiry): one more
-- processed and failed task in the daily counters (created with expiry ``expiry``,
-- unix seconds) and in the all-time totals, as Asynq counts a failure.
local function count_failure(processed_day, failed_day, processed, failed, expiry)
    if redis.call("INCR", processed_day) == 1 then
        redis.call("EXPIREAT", processed_day, expiry)
    end
    if redis.call("INCR", failed_day) == 1 then
        redis.call("EXPIREAT", failed_day, expiry)
    end
    redis.call("INCR", processed)
    redis.call("INCR", failed)
end
