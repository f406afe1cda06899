-- Take every copy of one delayed item out of the given buckets and, if
-- asked, push that many jobs onto a queue, in one atomic step: remove_delayed,
-- enqueue_delayed and remove_delayed_job_from_timestamp.
--
-- KEYS[1]   timestamps:<item>
-- KEYS[2]   queues                (SADDed when a job is pushed)
-- KEYS[3]   queue:<q>             (where jobs are pushed; unused when ARGV[2] is "")
-- KEYS[4]   delayed_queue_schedule
-- KEYS[5..] delayed:<ts> buckets to take the item from
-- ARGV[1]   the encoded item (LREM matches it byte for byte)
-- ARGV[2]   the queue name to push to, "" to only remove
-- ARGV[3]   the job payload to push, once per copy removed
-- ARGV[4]   "1": remove a bucket left empty (and its schedule entry), as
--           remove_delayed_job_from_timestamp does; "0": leave that to the
--           scheduler, as remove_delayed does
-- ARGV[5..] the bare bucket names "delayed:<ts>", parallel to KEYS[5..]
--
-- Returns how many copies were removed.
local removed = 0
for i = 5, #KEYS do
  removed = removed + redis.call('LREM', KEYS[i], 0, ARGV[1])
  redis.call('SREM', KEYS[1], ARGV[i])
  if ARGV[4] == '1' and redis.call('LLEN', KEYS[i]) == 0 then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[4], string.sub(ARGV[i], 9))
  end
end
if ARGV[2] ~= '' and removed > 0 then
  redis.call('SADD', KEYS[2], ARGV[2])
  for _ = 1, removed do
    redis.call('RPUSH', KEYS[3], ARGV[3])
  end
end
return removed
