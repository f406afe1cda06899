-- Move the head of one due bucket onto its queues, atomically, if the caller
-- still holds the scheduler's master lock and the bucket still starts with
-- exactly the items the caller read (a compare-and-move, like Ruby's WATCH).
--
-- KEYS[1]   delayed:<ts>
-- KEYS[2]   delayed_queue_schedule
-- KEYS[3]   the master lock key (only read)
-- then, per item i (0-based, n items), two keys:
-- KEYS[4+2i]  timestamps:<item>   (the item's exact bytes follow the prefix)
-- KEYS[5+2i]  the list it goes to: queue:<q>, or a failure list
-- then m keys: KEYS[4+2n+j]  a set to add a member to (queues, failed_queues)
-- ARGV[1]   the bucket's member of delayed_queue_schedule, exactly as stored
-- ARGV[2]   the lock value this scheduler holds, "" to skip the lock check
-- ARGV[3]   the bare bucket name "delayed:<ts>"
-- ARGV[4]   n
-- ARGV[5]   m
-- ARGV[6]   the length of the namespaced "timestamps:" prefix of KEYS[4+2i]
-- ARGV[7+i]     what to push for item i (job payload or failure record), ""
--               for nothing (a before_schedule/before_enqueue hook said no)
-- ARGV[7+n+j]   the member to SADD to KEYS[4+2n+j]
--
-- Returns n when moved, -1 when the bucket changed under us (read it again),
-- -2 when the lock is not ours (stop at once). A bucket left empty is
-- deleted and its schedule entry removed, as Ruby's clean_up_timestamp does.
if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return -2
end
local n = tonumber(ARGV[4])
local m = tonumber(ARGV[5])
local plen = tonumber(ARGV[6])
if n > 0 then
  local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
  if #head ~= n then
    return -1
  end
  for i = 0, n - 1 do
    if head[i + 1] ~= string.sub(KEYS[4 + 2 * i], plen + 1) then
      return -1
    end
  end
  for j = 0, m - 1 do
    redis.call('SADD', KEYS[4 + 2 * n + j], ARGV[7 + n + j])
  end
  -- One RPUSH per run of items going to the same list, in order.
  local target, values = nil, {}
  for i = 0, n - 1 do
    redis.call('SREM', KEYS[4 + 2 * i], ARGV[3])
    local push = ARGV[7 + i]
    if push ~= '' then
      if target ~= KEYS[5 + 2 * i] and #values > 0 then
        redis.call('RPUSH', target, unpack(values))
        values = {}
      end
      target = KEYS[5 + 2 * i]
      values[#values + 1] = push
    end
  end
  if #values > 0 then
    redis.call('RPUSH', target, unpack(values))
  end
  redis.call('LTRIM', KEYS[1], n, -1)
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return n
