-- Move the head of one due bucket onto its queues, atomically, if the caller
-- still holds the scheduler's master lock and the bucket still starts with
-- exactly the items the caller read (a compare-and-move, like Ruby's WATCH).
--
-- KEYS[1]   delayed:<ts>
-- KEYS[2]   delayed_queue_schedule
-- KEYS[3]   the master lock key (only read)
-- then, per item i (0-based), three keys:
-- KEYS[4+3i]  timestamps:<item>
-- KEYS[5+3i]  the list it goes to: queue:<q>, or a failure list
-- KEYS[6+3i]  the set that names that list: queues, or failed_queues
-- ARGV[1]   <ts> (the schedule member)
-- ARGV[2]   the lock value this scheduler holds, "" to skip the lock check
-- ARGV[3]   the bare bucket name "delayed:<ts>"
-- ARGV[4]   n, how many items
-- then, per item i, three values:
-- ARGV[5+3i]  the item exactly as read
-- ARGV[6+3i]  what to push (the job payload or a failure record), "" for nothing
--             (a before_schedule/before_enqueue hook said no)
-- ARGV[7+3i]  the member to SADD to KEYS[6+3i], "" for none
--
-- Returns n when moved, -1 when the bucket changed under us (read it again),
-- -2 when the lock is not ours (stop at once). A bucket left empty is
-- deleted and its schedule entry removed, as Ruby's clean_up_timestamp does.
if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return -2
end
local n = tonumber(ARGV[4])
if n > 0 then
  local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
  if #head ~= n then
    return -1
  end
  for i = 0, n - 1 do
    if head[i + 1] ~= ARGV[5 + 3 * i] then
      return -1
    end
  end
  for i = 0, n - 1 do
    redis.call('SREM', KEYS[4 + 3 * i], ARGV[3])
    if ARGV[7 + 3 * i] ~= '' then
      redis.call('SADD', KEYS[6 + 3 * i], ARGV[7 + 3 * i])
    end
    if ARGV[6 + 3 * i] ~= '' then
      redis.call('RPUSH', KEYS[5 + 3 * i], ARGV[6 + 3 * i])
    end
  end
  redis.call('LTRIM', KEYS[1], n, -1)
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return n
