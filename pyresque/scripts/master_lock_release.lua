-- Give up resque-scheduler's master lock, only if it is ours (Ruby's
-- Lock::Base#release: locked? && DEL, here in one step).
--
-- KEYS[1]  the master lock
-- ARGV[1]  this scheduler's value, "<hostname>:<pid>"
--
-- Returns 1 when released, 0 when it was not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
