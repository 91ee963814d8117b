-- Move a failed active task to the archive (Asynq Archive), if this worker still holds
-- its lease, then trim the archive by age and size.
-- KEYS[1] -> asynq:{<qname>}:t:<task_id>
-- KEYS[2] -> asynq:{<qname>}:active
-- KEYS[3] -> asynq:{<qname>}:lease
-- KEYS[4] -> asynq:{<qname>}:archived
-- KEYS[5] -> asynq:{<qname>}:processed:<yyyy-mm-dd>
-- KEYS[6] -> asynq:{<qname>}:failed:<yyyy-mm-dd>
-- KEYS[7] -> asynq:{<qname>}:processed
-- KEYS[8] -> asynq:{<qname>}:failed
-- KEYS[9] -> asynq:{<qname>}:x:recovered
-- ARGV[1] -> task id
-- ARGV[2] -> updated message (error_msg, last_failed_at)
-- ARGV[3] -> archived at (unix seconds)
-- ARGV[4] -> cutoff: archived tasks older than this are deleted (unix seconds)
-- ARGV[5] -> most archived tasks kept (the newest)
-- ARGV[6] -> daily stats expiry (unix seconds)
-- ARGV[7] -> lease score this worker holds
-- ARGV[8] -> task key prefix (asynq:{<qname>}:t:); hashes of trimmed tasks are
--            built from it because their ids are only known here
-- ARGV[9] -> the failure's traceback for the x_traceback field ("" removes the field);
--            a fastq extension Asynq never reads
-- Output: 1 archived, 0 lease lost (nothing written), -1 not in active (nothing written).
--@include lease
--@include archive_trim
--@include stats
--@include traceback
local taken = take_active(KEYS[2], KEYS[3], ARGV[1], ARGV[7])
if taken ~= 1 then
    return taken
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
set_traceback(KEYS[1], ARGV[9])
redis.call("HDEL", KEYS[9], ARGV[1])
trim_archive(KEYS[4], ARGV[8], ARGV[4], ARGV[5], TRIM_BATCH)
count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[6])
return 1
