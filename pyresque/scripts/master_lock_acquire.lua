-- Take resque-scheduler's master lock if nobody holds it: the same steps as
-- Ruby's Lock::Resilient#acquire!, so Ruby and Python schedulers elect one
-- master between them.
--
-- KEYS[1]  the master lock (<ns>:[<prefix>:]resque_scheduler_master_lock, namespaced)
-- ARGV[1]  this scheduler's value, "<hostname>:<pid>"
-- ARGV[2]  the lock's lifetime in seconds (LOCK_TIMEOUT)
--
-- Returns 1 when taken now, 0 otherwise.
if redis.call('SETNX', KEYS[1], ARGV[1]) == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
