-- Enqueue one tick of a recurring schedule exactly once across pyresque
-- schedulers: only if we still hold the master lock and no scheduler has
-- enqueued this tick (or a later one) of this schedule yet.
--
-- KEYS[1]  pyresque:schedule_tick   (hash: schedule name -> last tick enqueued, epoch s)
-- KEYS[2]  the master lock (only read)
-- KEYS[3]  queues
-- KEYS[4]  queue:<q>
-- KEYS[5]  delayed:last_enqueued_at (hash: schedule name -> Ruby Time#to_s)
-- ARGV[1]  the schedule name
-- ARGV[2]  the tick, integer epoch seconds
-- ARGV[3]  the lock value this scheduler holds
-- ARGV[4]  the queue name
-- ARGV[5]  the job payload
-- ARGV[6]  the tick as Ruby's Time#to_s, for last_enqueued_at
--
-- Returns 1 when enqueued, 0 when the tick was already enqueued, -2 when the
-- lock is not ours.
if redis.call('GET', KEYS[2]) ~= ARGV[3] then
  return -2
end
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if last >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[5])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[6])
return 1
