-- Remove a queue and all its keys (Inspector delete queue). Refused while any task is
-- active; without force, refused unless the queue holds no task at all. With force the
-- caller has already deleted the tasks in chunks; this sweeps any stragglers.
-- KEYS[1]  -> asynq:queues
-- KEYS[2]  -> asynq:{<q>}:active
-- KEYS[3]  -> asynq:{<q>}:pending
-- KEYS[4]  -> asynq:{<q>}:scheduled
-- KEYS[5]  -> asynq:{<q>}:retry
-- KEYS[6]  -> asynq:{<q>}:archived
-- KEYS[7]  -> asynq:{<q>}:completed
-- KEYS[8]  -> asynq:{<q>}:groups
-- KEYS[9..] -> every other key of the queue to delete (lease, paused, counters, ...)
-- ARGV[1] -> queue name
-- ARGV[2] -> "1" force, "0" only if empty
-- ARGV[3] -> task key prefix asynq:{<q>}:t: (task hashes are built from it)
-- ARGV[4] -> group key prefix asynq:{<q>}:g: (group zsets are named by SMEMBERS groups)
-- Output: 1 removed; 0 no such queue; -1 not empty; -2 has active tasks
--@include index
if redis.call("SISMEMBER", KEYS[1], ARGV[1]) == 0 then return 0 end
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
if size_of(KEYS[2]) > 0 then return -2 end
local groups = {}
if redis.call("TYPE", KEYS[8])["ok"] == "set" then groups = redis.call("SMEMBERS", KEYS[8]) end
local sources = {KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
for _, g in ipairs(groups) do table.insert(sources, ARGV[4] .. g) end
if ARGV[2] ~= "1" then
  for _, key in ipairs(sources) do
    if size_of(key) > 0 then return -1 end
  end
end
local ids = {}
for _, key in ipairs(sources) do
  for _, id in ipairs(ids_of(key)) do table.insert(ids, id) end
end
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  release_unique(key, id)
  redis.call("DEL", key)
end
for _, g in ipairs(groups) do redis.call("DEL", ARGV[4] .. g) end
for i = 2, #KEYS do redis.call("DEL", KEYS[i]) end
redis.call("SREM", KEYS[1], ARGV[1])
return 1
