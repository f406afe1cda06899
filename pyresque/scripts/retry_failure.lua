-- Retry one failure record, only if it is still the record the caller read.
--
-- KEYS[1]  the failure list (failed or <q>_failed)
-- KEYS[2]  the queues set
-- KEYS[3]  the job's queue list (queue:<q>)
-- ARGV[1]  the record's 0-based index
-- ARGV[2]  the record's bytes as the caller read them
-- ARGV[3]  the record with retried_at set
-- ARGV[4]  the queue name (for the queues set)
-- ARGV[5]  the job payload to push
--
-- Returns 1 when the record was stamped and the job queued, 0 (and changes
-- nothing) when the item at ARGV[1] is no longer ARGV[2].
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[5])
return 1
