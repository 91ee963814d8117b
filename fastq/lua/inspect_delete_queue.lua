-- Remove a queue and all its keys (Inspector delete queue). Refused while any task is
-- active; without force, refused unless the queue holds no task at all. With force the
-- caller has already deleted the tasks in chunks; this sweeps any stragglers. The
-- caller checks the name is in asynq:queues before and removes it after (that set is
-- in another Redis Cluster hash slot).
-- KEYS[1]  -> asynq:{<q>}:active
-- KEYS[2]  -> asynq:{<q>}:pending
-- KEYS[3]  -> asynq:{<q>}:scheduled
-- KEYS[4]  -> asynq:{<q>}:retry
-- KEYS[5]  -> asynq:{<q>}:archived
-- KEYS[6]  -> asynq:{<q>}:completed
-- KEYS[7]  -> asynq:{<q>}:groups
-- KEYS[8..] -> every other key of the queue to delete (lease, paused, counters, ...)
-- ARGV[1] -> "1" force, "0" only if empty
-- ARGV[2] -> task key prefix asynq:{<q>}:t: (task hashes are built from it)
-- ARGV[3] -> group key prefix asynq:{<q>}:g: (group zsets are named by SMEMBERS groups)
-- Output: 1 removed; -1 not empty; -2 has active tasks
--@include index
local function size_of(key)
  local t = redis.call("TYPE", key)["ok"]
  if t == "list" then return redis.call("LLEN", key) end
  if t == "zset" then return redis.call("ZCARD", key) end
  return 0
end
local function ids_of(key)
  local t = redis.call("TYPE", key)["ok"]
  if t == "list" then return redis.call("LRANGE", key, 0, -1) end
  if t == "zset" then return redis.call("ZRANGE", key, 0, -1) end
  return {}
end
if size_of(KEYS[1]) > 0 then return -2 end
local groups = {}
if redis.call("TYPE", KEYS[7])["ok"] == "set" then groups = redis.call("SMEMBERS", KEYS[7]) end
local sources = {KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]}
for _, g in ipairs(groups) do table.insert(sources, ARGV[3] .. g) end
if ARGV[1] ~= "1" then
  for _, key in ipairs(sources) do
    if size_of(key) > 0 then return -1 end
  end
end
local ids = {}
for _, key in ipairs(sources) do
  for _, id in ipairs(ids_of(key)) do table.insert(ids, id) end
end
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  release_unique(key, id)
  redis.call("DEL", key)
end
for _, g in ipairs(groups) do redis.call("DEL", ARGV[3] .. g) end
for i = 1, #KEYS do redis.call("DEL", KEYS[i]) end
return 1
