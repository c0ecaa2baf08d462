-- The Redis queue's shared helpers, prepended to every script of `redis.rs`.
--
-- KEYS[1] is the key prefix (`{kiln}:jobs:` by default); every key a script touches is
-- derived from it, so one Redis can hold several queues. The braces are a Redis Cluster
-- hash tag: all of a queue's keys fall in one slot, as a script needs.
--
--   <p>seq                  INCR: the next job id
--   <p>job:<id>             hash: the job's fields, as the SQLite row has them
--   <p>idem                 hash: idempotency key -> job id
--   <p>scheduled            zset run_at -> id: available jobs not yet due (or not yet promoted)
--   <p>ready                zset -priority -> "<run_at>:<id>" (zero-padded): due jobs in claim order
--   <p>due                  zset run_at -> id: the same jobs by time (the oldest due job's age)
--   <p>leases               zset lease_until -> id: running jobs
--   <p>state:<state>        zset id -> id: jobs in each state (listings, counts)
--   <p>all                  zset id -> id: every job (listings without a state)
--   <p>finished             zset finished_at -> id: succeeded and cancelled jobs (retention)
--   <p>wake                 channel: a job may be available
local P = KEYS[1]

local function job_key(id)
  return P .. 'job:' .. id
end

-- Equal scores in a sorted set order by member bytes: zero-padded run_at then id makes
-- "oldest first, then lowest id" the order within one priority.
local function ready_member(run_at, id)
  return string.format('%015d:%015d', math.max(0, tonumber(run_at)), tonumber(id))
end

local function move_state(id, from, to)
  redis.call('ZREM', P .. 'state:' .. from, id)
  redis.call('ZADD', P .. 'state:' .. to, id, id)
  redis.call('HSET', job_key(id), 'state', to)
end

-- Whether `worker` holds the running job `id`.
local function held(id, worker)
  local f = redis.call('HMGET', job_key(id), 'state', 'lease_owner')
  return f[1] == 'running' and f[2] == worker
end

local function drop_lease(id)
  redis.call('HDEL', job_key(id), 'lease_owner', 'lease_until')
  redis.call('ZREM', P .. 'leases', id)
end

-- Appends {attempt, at, error} to the job's JSON error list (kept as text, as SQLite keeps it).
local function record_error(id, at, message)
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'attempt', 'errors')
  local entry = cjson.encode({ attempt = tonumber(f[1]), at = tonumber(at), error = message })
  local errors = f[2]
  if errors == false or errors == '[]' then
    errors = '[' .. entry .. ']'
  else
    errors = string.sub(errors, 1, -2) .. ',' .. entry .. ']'
  end
  redis.call('HSET', key, 'errors', errors, 'last_error', message)
end

-- Available again at `run_at`: into `scheduled`, promoted by a claim once due.
local function schedule(id, run_at)
  redis.call('HSET', job_key(id), 'run_at', run_at)
  redis.call('ZADD', P .. 'scheduled', run_at, id)
end
