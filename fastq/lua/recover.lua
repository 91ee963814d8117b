-- Recover one task whose lease expired (its worker died): back to retry, to the
-- archive, or (its hash is gone) just off active. Asynq's recoverer, plus a count of
-- recoveries per task so that crash recoveries do not burn retries until a cap.
-- KEYS[1]  -> asynq:{<qname>}:t:<task_id>
-- KEYS[2]  -> asynq:{<qname>}:active
-- KEYS[3]  -> asynq:{<qname>}:lease
-- KEYS[4]  -> asynq:{<qname>}:retry
-- KEYS[5]  -> asynq:{<qname>}:archived
-- KEYS[6]  -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[7]  -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[8]  -> asynq:{<qname>}:processed
-- KEYS[9]  -> asynq:{<qname>}:failed
-- KEYS[10] -> asynq:{<qname>}:x:recovered
-- ARGV[1]  -> task id
-- ARGV[2]  -> the expired lease score (the task is left alone if it changed)
-- ARGV[3]  -> "retry", "archive" or "drop"
-- ARGV[4]  -> updated message
-- ARGV[5]  -> retry at / archived at (unix seconds)
-- ARGV[6]  -> 1 if this recovery counts as a failure (stats), else 0
-- ARGV[7]  -> daily stats expiry (unix seconds)
-- ARGV[8]  -> archive cutoff (unix seconds)
-- ARGV[9]  -> most archived tasks kept
-- ARGV[10] -> task key prefix (asynq:{<qname>}:t:), for hashes of trimmed archived tasks
-- Output: 1 recovered, 0 the lease changed meanwhile (nothing written).
--@include lease
--@include archive_trim
--@include stats
if not holds_lease(KEYS[3], ARGV[1], ARGV[2]) then
    return 0
end
redis.call("LREM", KEYS[2], 0, ARGV[1])
redis.call("ZREM", KEYS[3], ARGV[1])
local mode = ARGV[3]
if mode == "drop" then
    redis.call("HDEL", KEYS[10], ARGV[1])
    return 1
end
if mode == "retry" then
    redis.call("ZADD", KEYS[4], ARGV[5], ARGV[1])
    redis.call("HSET", KEYS[1], "msg", ARGV[4], "state", "retry")
    redis.call("HINCRBY", KEYS[10], ARGV[1], 1)
else
    redis.call("ZADD", KEYS[5], ARGV[5], ARGV[1])
    redis.call("HSET", KEYS[1], "msg", ARGV[4], "state", "archived")
    redis.call("HDEL", KEYS[10], ARGV[1])
    trim_archive(KEYS[5], ARGV[10], ARGV[8], ARGV[9], TRIM_BATCH)
end
if tonumber(ARGV[6]) == 1 then
    count_failure(KEYS[6], KEYS[7], KEYS[8], KEYS[9], ARGV[7])
end
return 1
