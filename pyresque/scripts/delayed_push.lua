-- Add one delayed item, as resque-scheduler's delayed_push does, but in one
-- atomic step (Ruby runs the three commands separately; a crash between
-- them can leave a bucket its schedule never points at).
--
-- KEYS[1]  delayed:<ts>            (the bucket)
-- KEYS[2]  timestamps:<item>       (the item's set of buckets)
-- KEYS[3]  delayed_queue_schedule
-- ARGV[1]  the encoded item {"class":..,"args":[..],"queue":".."}
-- ARGV[2]  the bare bucket name "delayed:<ts>" (a value, never namespaced)
-- ARGV[3]  <ts>, integer unix seconds
--
-- Returns the bucket's new length.
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3])
return n
