-- Forget a queue only while it is empty, so a job pushed meanwhile is never dropped.
--
-- KEYS[1]  the queues set
-- KEYS[2]  the queue list (queue:<q>)
-- ARGV[1]  the queue name
--
-- Returns 1 when the name was removed from the set, 0 when the queue has
-- jobs (nothing changes), -1 when the name was not in the set.
if redis.call('LLEN', KEYS[2]) > 0 then
  return 0
end
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  return 1
end
return -1
