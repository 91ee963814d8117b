-- Record queue names in the set of all queues (Asynq's SADD to asynq:queues, which
-- every enqueue path does). A script of its own, not part of the enqueue scripts,
-- because asynq:queues lives in another Redis Cluster hash slot than the queue's keys.
-- KEYS[1] -> asynq:queues
-- ARGV[1..n] -> queue names
-- Output: the number of names that were not in the set yet.
return redis.call("SADD", KEYS[1], unpack(ARGV))
