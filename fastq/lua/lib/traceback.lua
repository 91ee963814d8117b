-- set_traceback(task_key, text): keep the last failure's traceback in the task hash
-- field x_traceback (a fastq extension: Asynq reads only the fields it knows, and
-- every path that deletes the hash deletes it too); "" or nil removes the field, so
-- a failure without a traceback never shows an older one.
local function set_traceback(task_key, text)
    if text and text ~= "" then
        redis.call("HSET", task_key, "x_traceback", text)
    else
        redis.call("HDEL", task_key, "x_traceback")
    end
end
