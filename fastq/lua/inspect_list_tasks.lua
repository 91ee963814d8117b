-- One window of a state index for the Inspector's listings, optionally filtered by
-- task type and error text server-side, so a search over a huge state costs a few
-- round trips instead of one per task.
-- KEYS[1] -> the state index: asynq:{<q>}:pending|active (LIST) or a ZSET
--            (scheduled, retry, archived, completed, g:<group>)
-- KEYS[2] -> asynq:{<q>}:lease (scores tell whether an active task's lease expired)
-- ARGV[1] -> "list" or "zset"
-- ARGV[2] -> offset of the window in listing order (lists are listed from the tail,
--            next-to-run first, as Asynq lists them; zsets by ascending score)
-- ARGV[3] -> window size (ids to scan)
-- ARGV[4] -> task key prefix asynq:{<q>}:t: (task hashes are built from it: their ids
--            are only known here)
-- ARGV[5] -> task type to match exactly ("" = any)
-- ARGV[6] -> lower-case text the error message must contain ("" = any)
-- ARGV[7] -> stop after this many matches (0 = no limit)
-- ARGV[8] -> "1" to read each task's lease score from KEYS[2] (active tasks), else "0"
-- ARGV[9] -> "1" to only count matches: the output is then {scanned, matches, ended}
-- ARGV[10] -> most message bytes one call reads (at least one task is always read):
--            a window of large messages ends early, the caller goes on from `scanned`
-- Output: {-1, "<type of KEYS[1]>"} when the index key has the wrong type; otherwise
--   {scanned, ended, id, msg|false, state|false, score|false, result|false,
--    lease|false, wrongtype|false, ...} with one 7-tuple per returned task, in listing
--   order; ended is 1 when the index has nothing after the scanned ids.
local kind, off, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local want_type, want_err, limit = ARGV[5], ARGV[6], tonumber(ARGV[7])
local budget = tonumber(ARGV[10])

local function varint(s, i)
  local v, mul = 0, 1
  while true do
    local b = s:byte(i)
    if not b then return nil, i end
    v = v + (b % 128) * mul
    i = i + 1
    if b < 128 then return v, i end
    mul = mul * 128
  end
end

-- TaskMessage fields 1 (type) and 7 (error_msg); nil when the bytes are not protobuf.
local function type_and_error(s)
  local i, len, typ, err = 1, #s, "", ""
  while i <= len do
    local tag, l
    tag, i = varint(s, i)
    if not tag then return nil end
    local wire, num = tag % 8, math.floor(tag / 8)
    if wire == 0 then
      l, i = varint(s, i)
      if not l then return nil end
    elseif wire == 2 then
      l, i = varint(s, i)
      if not l or i + l - 1 > len then return nil end
      if num == 1 then typ = s:sub(i, i + l - 1) elseif num == 7 then err = s:sub(i, i + l - 1) end
      i = i + l
    elseif wire == 1 then i = i + 8
    elseif wire == 5 then i = i + 4
    else return nil end
  end
  return typ, err
end

local ids, scores = {}, {}
local ok, raw
if kind == "list" then
  ok, raw = pcall(redis.call, "LRANGE", KEYS[1], -(off + n), -(off + 1))
  if not ok then return {-1, redis.call("TYPE", KEYS[1])["ok"]} end
  for i = #raw, 1, -1 do table.insert(ids, raw[i]) end
else
  ok, raw = pcall(redis.call, "ZRANGE", KEYS[1], off, off + n - 1, "WITHSCORES")
  if not ok then return {-1, redis.call("TYPE", KEYS[1])["ok"]} end
  for i = 1, #raw, 2 do
    table.insert(ids, raw[i])
    table.insert(scores, raw[i + 1])
  end
end

local filtering = want_type ~= "" or want_err ~= ""
local out, found, scanned, read = {0, 0}, 0, 0, 0
-- Only the decoded type and error fields are compared (the payload is skipped by its
-- length prefix, never copied or lowercased).
local function matches(msg)
  local typ, err = type_and_error(msg)
  return typ ~= nil and (want_type == "" or typ == want_type)
    and (want_err == "" or string.find(string.lower(err), want_err, 1, true) ~= nil)
end

for i, id in ipairs(ids) do
  if read >= budget and scanned > 0 then break end
  scanned = i
  local key = ARGV[4] .. id
  local okl, size = pcall(redis.call, "HSTRLEN", key, "msg")
  if okl then read = read + size end
  local keep = true
  if filtering then
    local okm, msg = pcall(redis.call, "HGET", key, "msg")
    keep = okm and msg and matches(msg) or false
  end
  if keep and ARGV[9] == "1" then
    found = found + 1
  elseif keep then
    local okh, h = pcall(redis.call, "HMGET", key, "msg", "state", "result")
    local lease = false
    if ARGV[8] == "1" then
      local okl, s = pcall(redis.call, "ZSCORE", KEYS[2], id)
      if okl and s then lease = s end
    end
    if okh then
      table.insert(out, id); table.insert(out, h[1] or false); table.insert(out, h[2] or false)
      table.insert(out, scores[i] or false); table.insert(out, h[3] or false)
      table.insert(out, lease); table.insert(out, false)
    else
      table.insert(out, id); table.insert(out, false); table.insert(out, false)
      table.insert(out, scores[i] or false); table.insert(out, false)
      table.insert(out, lease); table.insert(out, "wrongtype")
    end
    found = found + 1
    if limit > 0 and found >= limit then break end
  end
end
local ended = (scanned == #ids and #ids < n) and 1 or 0
out[1], out[2] = scanned, ended
if ARGV[9] == "1" then return {scanned, found, ended} end
return out
