-- Trim one queue's archive to the newest N tasks and to a maximum age, deleting the
-- trimmed tasks' hashes.
-- KEYS[1] -> asynq:{<qname>}:archived
-- ARGV[1] -> cutoff (unix seconds): tasks archived at or before it are deleted
-- ARGV[2] -> most archived tasks kept
-- ARGV[3] -> task key prefix (asynq:{<qname>}:t:); hashes are built from it because
--            the ids are only known here
-- Output: the number of tasks deleted.
--@include archive_trim
return trim_archive(KEYS[1], ARGV[3], ARGV[1], ARGV[2], 1000)
