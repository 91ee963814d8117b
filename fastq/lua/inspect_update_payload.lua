-- Replace one task's encoded message if nobody changed it since it was read (compare
-- and set), and only in a state where no worker holds the message.
-- KEYS[1] -> asynq:{<q>}:t:<id>
-- ARGV[1] -> the encoded message as read
-- ARGV[2] -> the new encoded message
-- ARGV[3..] -> states in which the update is allowed
-- Output: {1, state} updated; {0, ""} no such task; {-1, state} refused in this state;
--         {-2, state} the message changed meanwhile (read again and retry)
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" then return {0, ""} end
local msg, state = unpack(redis.call("HMGET", KEYS[1], "msg", "state"))
state = state or ""
local allowed = false
for i = 3, #ARGV do
  if ARGV[i] == state then allowed = true end
end
if not allowed then return {-1, state} end
if msg ~= ARGV[1] then return {-2, state} end
redis.call("HSET", KEYS[1], "msg", ARGV[2])
return {1, state}
