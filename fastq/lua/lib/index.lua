-- pop_oldest(key, kind, n): take up to ``n`` ids off a state index, oldest first:
-- a pending LIST ("list") from its tail, a ZSET ("zset") by lowest score.
local function pop_oldest(key, kind, n)
    if kind == "list" then
        return redis.call("RPOP", key, n) or {}
    end
    local ids = {}
    local popped = redis.call("ZPOPMIN", key, n)
    for i = 1, #popped, 2 do table.insert(ids, popped[i]) end
    return ids
end

-- forget_group_if_empty(gkey, groups, group): drop ``group`` from the groups set once
-- its zset ``gkey`` is empty (nothing for group "").
local function forget_group_if_empty(gkey, groups, group)
    if group ~= "" and redis.call("ZCARD", gkey) == 0 then
        redis.call("SREM", groups, group)
    end
end

-- remove_from_group(gprefix, groups, group, id): take task ``id`` out of its group's
-- zset (``gprefix`` .. group), forgetting the group once empty; returns ZREM's count.
local function remove_from_group(gprefix, groups, group, id)
    local gkey = gprefix .. group
    local removed = redis.call("ZREM", gkey, id)
    forget_group_if_empty(gkey, groups, group)
    return removed
end

-- release_unique(taskkey, id): delete the uniqueness lock named by the task hash's
-- unique_key field if task ``id`` still holds it (another task's lock stays).
local function release_unique(taskkey, id)
    if redis.call("TYPE", taskkey)["ok"] ~= "hash" then return end
    local unique = redis.call("HGET", taskkey, "unique_key")
    if unique and unique ~= "" and redis.call("GET", unique) == id then
        redis.call("DEL", unique)
    end
end
