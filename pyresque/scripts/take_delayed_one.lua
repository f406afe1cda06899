-- Take ONE copy of a delayed item out of one bucket and, if asked, push it
-- as a job onto a queue, in one atomic step: the dashboard's "enqueue now"
-- and "remove" of a single delayed job. An identical twin in the same
-- bucket stays (it is another job the user did not click), and so does the
-- bucket's entry in the item's timestamps: set.
--
-- KEYS[1]  delayed:<ts>            (the bucket)
-- KEYS[2]  timestamps:<item>
-- KEYS[3]  delayed_queue_schedule
-- KEYS[4]  queues                  (SADDed when the job is pushed)
-- KEYS[5]  queue:<q>               (unused when ARGV[4] is "")
-- ARGV[1]  the item's exact bytes (LREM matches them byte for byte)
-- ARGV[2]  the bare bucket name "delayed:<ts>"
-- ARGV[3]  <ts>, the bucket's member of delayed_queue_schedule
-- ARGV[4]  the queue name to push to, "" to only remove
-- ARGV[5]  the job payload to push
--
-- Returns 1 when the item was taken, 0 when it was no longer in the bucket.
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
local twin = false
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if item == ARGV[1] then
    twin = true
    break
  end
end
if not twin then
  redis.call('SREM', KEYS[2], ARGV[2])
end
if redis.call('LLEN', KEYS[1]) == 0 then
  -- As Ruby's clean_up_timestamp: an emptied bucket leaves the schedule.
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[3])
end
if ARGV[4] ~= '' then
  redis.call('SADD', KEYS[4], ARGV[4])
  redis.call('RPUSH', KEYS[5], ARGV[5])
end
return 1
