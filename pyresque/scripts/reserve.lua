-- Take the next job for a worker, atomically.
--
-- KEYS[1]   pause-all-workers
-- KEYS[2]   worker:<id>             (the worker's "working on" record)
-- KEYS[3..] queue:<q>               (in priority order)
-- ARGV[1]   run_at, already JSON-encoded ("2026-11-23T03:22:31Z" with quotes)
-- ARGV[2..] the queue names, JSON-encoded, parallel to KEYS[3..]
--
-- Returns "paused" when pause-all-workers is "true" (any case, padded), nil
-- when every queue is empty, else {position of the queue (1-based), payload}.
--
-- Popping and writing worker:<id> in one script is what makes a reserve
-- safe: at every instant the job is in its queue or in the worker's record,
-- where pruning (Ruby's or ours) finds it if the worker dies.
local pause = redis.call('GET', KEYS[1])
if pause and string.lower(string.match(pause, '^%s*(.-)%s*$')) == 'true' then
  return 'paused'
end
for i = 3, #KEYS do
  local payload = redis.call('LPOP', KEYS[i])
  if payload then
    local body = payload
    -- The record must stay valid JSON for resque-web: a payload that is not
    -- a JSON object is stored as a string until the worker records its failure.
    -- Redis's cjson accepts NaN, Infinity and hex numbers, which Ruby and
    -- resque-web cannot parse: refuse them for this one decode, then put the
    -- server-wide setting back (scripts run atomically, so nobody sees it).
    local lenient = cjson.decode_invalid_numbers()
    cjson.decode_invalid_numbers(false)
    local ok, decoded = pcall(cjson.decode, payload)
    cjson.decode_invalid_numbers(lenient)
    if not ok or type(decoded) ~= 'table' or not string.match(payload, '^%s*{') then
      body = cjson.encode(payload)
    end
    redis.call('SET', KEYS[2],
      '{"queue":' .. ARGV[i - 1] .. ',"run_at":' .. ARGV[1] .. ',"payload":' .. body .. '}')
    return {i - 2, payload}
  end
end
return nil
