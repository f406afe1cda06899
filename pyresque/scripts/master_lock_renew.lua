-- Keep resque-scheduler's master lock if it is ours (Ruby's
-- Lock::Resilient#locked?): extend its lifetime and say whether we hold it.
--
-- KEYS[1]  the master lock
-- ARGV[1]  this scheduler's value, "<hostname>:<pid>"
-- ARGV[2]  the lock's lifetime in seconds (LOCK_TIMEOUT)
--
-- Returns 1 when we hold it (now for ARGV[2] more seconds), 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
