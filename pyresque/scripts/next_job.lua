-- Finish a worker's current job and reserve its next one, in one atomic step.
-- Safe to call again with the same arguments when a reply was lost.
--
-- KEYS[1]   stat:processed            KEYS[2]  stat:processed:<id>
-- KEYS[3]   stat:failed               KEYS[4]  stat:failed:<id>
-- KEYS[5]   the failure list the record goes to (failed, or <q>_failed)
-- KEYS[6]   failed_queues (redis_multi_queue backend; untouched otherwise)
-- KEYS[7]   pause-all-workers
-- KEYS[8]   worker:<id>               (the worker's "working on" record)
-- KEYS[9]   pyresque:reservation:<id> (which job the record holds; see below)
-- KEYS[10]  the queue a job put back goes to (any key of ours when none is)
-- KEYS[11..] queue:<q>, in priority order; none to finish without reserving
-- ARGV[1]   the reservation id of the job to finish, "" when there is none
-- ARGV[2]   the failure record JSON, "" when the job succeeded
-- ARGV[3]   "1" when the job counts in stat:failed (Ruby: it raised), record or not
-- ARGV[4]   the member to add to KEYS[6], "" for the default backend
-- ARGV[5]   run_at, JSON-encoded ("2026-11-23T03:22:31Z" with its quotes)
-- ARGV[6]   the reservation id to give the job reserved now
-- ARGV[7]   "head" or "tail" to put the finished job back on KEYS[10] instead
--           of counting it (a stop before it ended, a class this worker
--           cannot run), "" otherwise
-- ARGV[8]   the payload to put back, as it was queued
-- ARGV[9..] the queue names, JSON-encoded, parallel to KEYS[11..]
--
-- Returns "paused" when pause-all-workers is "true" (any case, padded), nil
-- when every queue is empty, {position of the queue (1-based), payload} for
-- a job reserved now, or {0, record, reservation id} when worker:<id>
-- already holds a job this worker was never told about (the reply of an
-- earlier call was lost): the caller runs, or puts back, that job instead.
--
-- Finishing is what Ruby's done_working and failure backend do (record,
-- stats, DEL worker:<id>). Popping and writing worker:<id> in the same
-- script is what makes a reserve safe: at every instant the job is in its
-- queue or in the worker's record, where pruning finds it if the worker dies.
--
-- worker:<id> stays exactly what Ruby writes; KEYS[9] says which
-- reservation it holds ("<id>"), or which one was finished last without a
-- next one ("~<id>"). So a repeated call can tell its own job from the next:
-- a job is finished only while KEYS[9] names it (or is gone with Redis's
-- data), never when it says the job was finished already or names another.
local record = redis.call('GET', KEYS[8])
-- Which reservation the record holds matters only when there is a record
-- or a job to finish: an idle worker's poll skips the read.
local held = false
if record or ARGV[1] ~= '' then
  held = redis.call('GET', KEYS[9])
end
local finished = false
if ARGV[1] ~= '' then
  local mine
  if record then
    mine = (not held) or held == ARGV[1]
  else
    mine = held ~= '~' .. ARGV[1]
  end
  if mine and ARGV[7] ~= '' then
    redis.call(ARGV[7] == 'head' and 'LPUSH' or 'RPUSH', KEYS[10], ARGV[8])
  elseif mine then
    if ARGV[2] ~= '' then
      if ARGV[4] ~= '' then
        redis.call('SADD', KEYS[6], ARGV[4])
      end
      redis.call('RPUSH', KEYS[5], ARGV[2])
    end
    -- Counted even without a record: resque-retry suppresses the record of a
    -- job it will retry, and Ruby's worker counts the failure all the same.
    if ARGV[3] == '1' then
      redis.call('INCRBY', KEYS[3], 1)
      redis.call('INCRBY', KEYS[4], 1)
    end
    redis.call('INCRBY', KEYS[1], 1)
    redis.call('INCRBY', KEYS[2], 1)
  end
  if mine then
    if record then
      redis.call('DEL', KEYS[8])
      record = nil
    end
    finished = true
  end
end

-- Remembered only while a repeated call could come: a day is far longer
-- than any retry of a lost reply takes.
local function remember()
  if finished then
    redis.call('SET', KEYS[9], '~' .. ARGV[1], 'EX', 86400)
  end
end

if record then
  if not held or string.sub(held, 1, 1) == '~' then
    -- A record nobody claims (its marker expired): this worker takes it on.
    held = ARGV[6]
    redis.call('SET', KEYS[9], held, 'EX', 604800)
  end
  return {0, record, held}
end
if #KEYS < 11 then
  remember()
  return nil
end
local pause = redis.call('GET', KEYS[7])
if pause and string.lower(string.match(pause, '^%s*(.-)%s*$')) == 'true' then
  remember()
  return 'paused'
end
-- Whether any queue among KEYS[lo..hi] holds a job: a list exists only
-- while it has items. EXISTS takes many keys in one call (in slices, as
-- Lua's unpack has a limit), so a worker on many queues that are mostly
-- empty, a `*` worker, does not pay a call per empty queue.
local function any_job(lo, hi)
  for from = lo, hi, 4000 do
    if redis.call('EXISTS', unpack(KEYS, from, math.min(from + 3999, hi))) > 0 then
      return true
    end
  end
  return false
end

-- The first queue, in priority order from KEYS[lo], that holds a job; by
-- halving the range, so its cost grows with the number of empty queues
-- in C (one hash lookup each, about twice), not in calls from Lua.
local function first_with_job(lo)
  local hi = #KEYS
  if hi - lo < 8 then
    return lo
  end
  if not any_job(lo, hi) then
    return nil
  end
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if any_job(lo, mid) then hi = mid else lo = mid + 1 end
  end
  return lo
end

local i = first_with_job(11)
while i and i <= #KEYS do
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
    redis.call('SET', KEYS[8], '{"queue":' .. ARGV[i - 2] .. ',"run_at":' .. ARGV[5] .. ',"payload":' .. body .. '}')
    -- A week: it outlives any job's run, and an orphan (Ruby pruned this
    -- worker, and Ruby does not know this key) goes away by itself.
    redis.call('SET', KEYS[9], ARGV[6], 'EX', 604800)
    return {i - 10, payload}
  end
  i = i + 1
end
remember()
return nil
