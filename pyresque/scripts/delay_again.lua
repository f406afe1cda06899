-- delay_or_enqueue_at in one step: take every copy of an item out of its
-- buckets and put as many (at least one) into the bucket of the new time.
-- Ruby removes, then enqueues: a crash between loses the jobs.
--
-- KEYS[1]   timestamps:<item>
-- KEYS[2]   delayed_queue_schedule
-- KEYS[3]   delayed:<new ts>
-- KEYS[4..] the delayed:<ts> buckets the item is in now
-- ARGV[1]   the encoded item
-- ARGV[2]   the bare name of the new bucket, "delayed:<new ts>"
-- ARGV[3]   <new ts>
-- ARGV[4..] the bare names of KEYS[4..]
--
-- Returns how many copies are now due at the new time.
local removed = 0
for i = 4, #KEYS do
  removed = removed + redis.call('LREM', KEYS[i], 0, ARGV[1])
  redis.call('SREM', KEYS[1], ARGV[i])
end
local count = math.max(removed, 1)
for _ = 1, count do
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
return count
