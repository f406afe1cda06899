-- Finish a worker's current job and reserve its next one, in one atomic step.
--
-- KEYS[1]   stat:processed            KEYS[2]  stat:processed:<id>
-- KEYS[3]   stat:failed               KEYS[4]  stat:failed:<id>
-- KEYS[5]   the failure list the record goes to (failed, or <q>_failed)
-- KEYS[6]   failed_queues (redis_multi_queue backend; untouched otherwise)
-- KEYS[7]   pause-all-workers
-- KEYS[8]   worker:<id>               (the worker's "working on" record)
-- KEYS[9..] queue:<q>, in priority order; none to finish without reserving
-- ARGV[1]   "1" to finish the current job first, "" when there is none
-- ARGV[2]   the failure record JSON, "" when the job succeeded
-- ARGV[3]   "1" when the failure counts in stat:failed (Ruby: the job raised)
-- ARGV[4]   the member to add to KEYS[6], "" for the default backend
-- ARGV[5]   run_at, JSON-encoded ("2026-11-23T03:22:31Z" with its quotes)
-- ARGV[6..] the queue names, JSON-encoded, parallel to KEYS[9..]
--
-- Returns "paused" when pause-all-workers is "true" (any case, padded), nil
-- when every queue is empty, else {position of the queue (1-based), payload}.
--
-- Finishing is what Ruby's done_working and failure backend do (record,
-- stats, DEL worker:<id>). Popping and writing worker:<id> in the same
-- script is what makes a reserve safe: at every instant the job is in its
-- queue or in the worker's record, where pruning finds it if the worker dies.
if ARGV[1] == '1' then
  if ARGV[2] ~= '' then
    if ARGV[4] ~= '' then
      redis.call('SADD', KEYS[6], ARGV[4])
    end
    redis.call('RPUSH', KEYS[5], ARGV[2])
    if ARGV[3] == '1' then
      redis.call('INCRBY', KEYS[3], 1)
      redis.call('INCRBY', KEYS[4], 1)
    end
  end
  redis.call('DEL', KEYS[8])
  redis.call('INCRBY', KEYS[1], 1)
  redis.call('INCRBY', KEYS[2], 1)
end
if #KEYS < 9 then
  return nil
end
local pause = redis.call('GET', KEYS[7])
if pause and string.lower(string.match(pause, '^%s*(.-)%s*$')) == 'true' then
  return 'paused'
end
for i = 9, #KEYS do
  local payload = redis.call('LPOP', KEYS[i])
  if payload then
    local body = payload
    -- The record must stay valid JSON for Ruby and resque-web. Redis's cjson
    -- accepts NaN, Infinity and hex numbers, which they cannot parse, so it
    -- is made strict for this one decode and the server-wide setting put
    -- back (scripts run atomically: nobody else sees the change). A payload
    -- that is not a JSON object is stored as a string until the worker
    -- records its failure.
    local lenient = cjson.decode_invalid_numbers()
    cjson.decode_invalid_numbers(false)
    local ok, decoded = pcall(cjson.decode, payload)
    cjson.decode_invalid_numbers(lenient)
    if not ok or type(decoded) ~= 'table' or not string.match(payload, '^%s*{') then
      body = cjson.encode(payload)
    end
    redis.call('SET', KEYS[8],
      '{"queue":' .. ARGV[i - 3] .. ',"run_at":' .. ARGV[5] .. ',"payload":' .. body .. '}')
    return {i - 8, payload}
  end
end
return nil
