-- Everything about one task for the Inspector, read atomically.
-- KEYS[1] -> asynq:{<q>}:t:<id>
-- KEYS[2] -> asynq:{<q>}:lease
-- KEYS[3] -> asynq:{<q>}:scheduled
-- KEYS[4] -> asynq:{<q>}:retry
-- KEYS[5] -> asynq:{<q>}:archived
-- KEYS[6] -> asynq:{<q>}:completed
-- ARGV[1] -> task id
-- Output: false when the task hash does not exist; {"wrongtype"} when the key is not a
--   hash; otherwise {msg|false, state|false, result|false, pending_since|false,
--   score|false, x_traceback|false} where score is the lease expiry (active) or the
--   index score (zsets), and x_traceback the last failure's traceback (fastq only).
local ok, h = pcall(redis.call, "HMGET", KEYS[1], "msg", "state", "result", "pending_since",
                    "x_traceback")
if not ok then return {"wrongtype"} end
if redis.call("EXISTS", KEYS[1]) == 0 then return false end
local index = {active = KEYS[2], scheduled = KEYS[3], retry = KEYS[4], archived = KEYS[5],
               completed = KEYS[6]}
local score = false
local key = h[2] and index[h[2]]
if key then
  local oks, s = pcall(redis.call, "ZSCORE", key, ARGV[1])
  if oks and s then score = s end
end
return {h[1] or false, h[2] or false, h[3] or false, h[4] or false, score, h[5] or false}
