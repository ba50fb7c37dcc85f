"""Lua scripts: each checks where a job is and moves it in one atomic step on the Redis server.

Every script body shares one key and argument layout, so a bulk batch is a MULTI/EXEC of the same
bodies (atomic as a whole, one round trip), each adding to the bulk token's progress in the same
step as its move. Requeue and cancel also come as `*_MANY` variants that loop the body over many
jobs of one queue in one call (see `_many`), so a batch of 500 is a few calls, not 500:

  KEYS  1 rq:job:<id>     2 queue list        3 intermediate list (rq 2)   4 started registry
        5 failed          6 finished          7 deferred                   8 scheduled
        9 canceled       10 quarantine zset  11 quarantined job hash      12 rq:queues
       13 progress hash (a bulk token; unused when ARGV[8] is '0')   14.. script-specific
  ARGV  1 job id   2 '1' when started members are `id:execution` (rq 2)   3 now (unix seconds)
        4 now as RQ writes dates   5 queue key (for rq:queues)   6 accepted states, comma separated
        7 the job's origin as read   8 '1' to count progress   9.. script-specific

A script writes nothing until every check has passed: Redis does not undo a script's earlier
writes when it fails halfway.
"""

_PRELUDE = """
-- The job acted on; a batch script points these at each of its jobs in turn.
local id, K_JOB, K_QJOB = ARGV[1], KEYS[1], KEYS[11]

local function started_member()
  if ARGV[2] ~= '1' then
    if redis.call('ZSCORE', KEYS[4], id) then return id end
    return nil
  end
  local prefix = id .. ':'
  for _, m in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
    if string.sub(m, 1, #prefix) == prefix then return m end
  end
  return nil
end

local function has(state)
  if state == 'started' then
    return started_member() ~= nil and redis.call('HEXISTS', K_JOB, 'erp_ops_cancel') == 0
  elseif state == 'stopping' then
    return started_member() ~= nil and redis.call('HEXISTS', K_JOB, 'erp_ops_cancel') == 1
  elseif state == 'intermediate' then return redis.call('LPOS', KEYS[3], id) ~= false
  elseif state == 'queued' then return redis.call('LPOS', KEYS[2], id) ~= false
  elseif state == 'failed' then return redis.call('ZSCORE', KEYS[5], id) ~= false
  elseif state == 'finished' then return redis.call('ZSCORE', KEYS[6], id) ~= false
  elseif state == 'deferred' then return redis.call('ZSCORE', KEYS[7], id) ~= false
  elseif state == 'scheduled' then return redis.call('ZSCORE', KEYS[8], id) ~= false
  elseif state == 'canceled' then return redis.call('ZSCORE', KEYS[9], id) ~= false
  elseif state == 'retried' then return redis.call('HEXISTS', K_JOB, 'erp_ops_retried_as') == 1
  end
  return false
end

local ORDER = {'started', 'stopping', 'intermediate', 'queued', 'failed', 'scheduled', 'deferred',
  'finished', 'canceled', 'retried'}

local function locate()
  if redis.call('EXISTS', K_JOB) == 0 then
    if redis.call('ZSCORE', KEYS[10], id) and redis.call('EXISTS', K_QJOB) == 1 then
      return 'quarantined'
    end
    return 'missing'
  end
  for _, s in ipairs(ORDER) do
    if has(s) then return s end
  end
  return 'orphan'
end

-- The first accepted state the job is in, or nil; `locate()` then says where it really is.
local function accepted()
  if ARGV[6] == 'quarantined' then
    if locate() == 'quarantined' and redis.call('HGET', K_QJOB, 'origin') == ARGV[7] then
      return 'quarantined'
    end
    return nil
  end
  if redis.call('EXISTS', K_JOB) == 0 then return nil end
  if redis.call('HGET', K_JOB, 'origin') ~= ARGV[7] then return nil end
  for s in string.gmatch(ARGV[6], '[^,]+') do
    if s == 'orphan' then
      if locate() == 'orphan' then return s end
    elseif has(s) then
      return s
    end
  end
  return nil
end

local function progress(field)
  if ARGV[8] == '1' then redis.call('HINCRBY', KEYS[13], field, 1) end
end

local function conflict()
  progress('skipped')
  return {'conflict', locate()}
end

local function apply_ttl(key)
  redis.call('PERSIST', key)
  local ttl = tonumber(redis.call('HGET', key, 'ttl'))
  if ttl and ttl > 0 then redis.call('EXPIRE', key, ttl) end
end

local function enqueue(job_key, job_id)
  redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', ARGV[4], 'started_at', '',
    'ended_at', '', 'exc_info', '', 'worker_name', '')
  apply_ttl(job_key)
  redis.call('RPUSH', KEYS[2], job_id)
  redis.call('SADD', KEYS[12], ARGV[5])
end
"""


def _single(body: str) -> str:
	"""One job: the one named by KEYS[1], KEYS[11] and ARGV[1]."""
	return f"{_PRELUDE}\nlocal function act()\n{body}\nend\nreturn act()\n"


def _many(body: str) -> str:
	"""The same step over many jobs of one queue, for bulk batches: ARGV[9] is the number of
	jobs, ARGV[10..] their ids; KEYS[14..] each job's hash then its quarantined hash. Returns each
	job's status ('ok' or 'conflict'). One call instead of one per job keeps what the client has
	to encode small."""
	loop = """
local out = {}
for i = 1, tonumber(ARGV[9]) do
  id, K_JOB, K_QJOB = ARGV[9 + i], KEYS[12 + 2 * i], KEYS[13 + 2 * i]
  out[i] = act()[1]
end
return out
"""
	return f"{_PRELUDE}\nlocal function act()\n{body}\nend\n{loop}"


LOCATE = _single("return {'ok', locate()}")

_REQUEUE = """
local state = accepted()
if not state then return conflict() end
redis.call('ZREM', KEYS[5], id)
enqueue(K_JOB, id)
progress('moved')
return {'ok', state}
"""

# KEYS[14] the new job's hash; ARGV[9] the new id, ARGV[10..] its fields and values.
_RETRY = """
local state = accepted()
if not state or redis.call('EXISTS', KEYS[14]) == 1 then return conflict() end
redis.call('ZREM', KEYS[5], id)
redis.call('HSET', K_JOB, 'erp_ops_retried_as', ARGV[9])
redis.call('HSET', KEYS[14], unpack(ARGV, 10))
enqueue(KEYS[14], ARGV[9])
progress('moved')
return {'ok', state}
"""

_CANCEL = """
local state = accepted()
if not state then return conflict() end
if state == 'started' then
  -- Only the worker can stop its horse: mark the job so a second cancel conflicts, and let the
  -- caller send the stop command.
  redis.call('HSET', K_JOB, 'erp_ops_cancel', ARGV[3])
  progress('moved')
  return {'stop', state, redis.call('HGET', K_JOB, 'worker_name') or ''}
end
if state == 'queued' then redis.call('LREM', KEYS[2], 0, id)
elseif state == 'deferred' then redis.call('ZREM', KEYS[7], id)
elseif state == 'scheduled' then redis.call('ZREM', KEYS[8], id)
end
redis.call('HSET', K_JOB, 'status', 'canceled')
redis.call('ZADD', KEYS[9], math.floor(tonumber(ARGV[3])), id)
progress('moved')
return {'ok', state}
"""

# A job stopped on erp_ops' request lands in the failed registry with status "stopped".
_FINISH_CANCEL = """
local state = accepted()
if not state or redis.call('HGET', K_JOB, 'status') ~= 'stopped'
    or redis.call('HEXISTS', K_JOB, 'erp_ops_cancel') == 0 then
  return {'conflict', locate()}
end
redis.call('ZREM', KEYS[5], id)
redis.call('HSET', K_JOB, 'status', 'canceled')
redis.call('ZADD', KEYS[9], math.floor(tonumber(ARGV[3])), id)
return {'ok', state}
"""

# ARGV[9] the exception text read beforehand (RQ keeps it in a results stream beside the job).
_QUARANTINE = """
local state = accepted()
if not state then return conflict() end
if state == 'queued' then redis.call('LREM', KEYS[2], 0, id)
elseif state == 'failed' then redis.call('ZREM', KEYS[5], id)
elseif state == 'finished' then redis.call('ZREM', KEYS[6], id)
elseif state == 'deferred' then redis.call('ZREM', KEYS[7], id)
elseif state == 'scheduled' then redis.call('ZREM', KEYS[8], id)
elseif state == 'canceled' then redis.call('ZREM', KEYS[9], id)
end
redis.call('RENAME', K_JOB, K_QJOB)
redis.call('PERSIST', K_QJOB)
redis.call('HSET', K_QJOB, 'erp_ops_quarantined_at', ARGV[4], 'erp_ops_state_before', state,
  'erp_ops_exc_info', ARGV[9])
redis.call('ZADD', KEYS[10], ARGV[3], id)
progress('moved')
return {'ok', state, redis.call('HGETALL', K_QJOB)}
"""

_RELEASE = """
local state = accepted()
if not state or redis.call('EXISTS', K_JOB) == 1 then return conflict() end
redis.call('RENAME', K_QJOB, K_JOB)
redis.call('HDEL', K_JOB, 'erp_ops_quarantined_at', 'erp_ops_state_before', 'erp_ops_exc_info',
  'erp_ops_cancel', 'erp_ops_retried_as')
redis.call('ZREM', KEYS[10], id)
enqueue(K_JOB, id)
progress('moved')
return {'ok', state}
"""

# ARGV[9..] the job's fields, rebuilt from a stored payload when erp_ops' Redis copy is gone.
_RELEASE_PAYLOAD = """
if redis.call('EXISTS', K_JOB) == 1 or redis.call('EXISTS', K_QJOB) == 1 then return conflict() end
redis.call('HSET', K_JOB, unpack(ARGV, 9))
redis.call('ZREM', KEYS[10], id)
enqueue(K_JOB, id)
return {'ok', 'quarantined'}
"""

REQUEUE = _single(_REQUEUE)
REQUEUE_MANY = _many(_REQUEUE)
RETRY = _single(_RETRY)
CANCEL = _single(_CANCEL)
CANCEL_MANY = _many(_CANCEL)
FINISH_CANCEL = _single(_FINISH_CANCEL)
QUARANTINE = _single(_QUARANTINE)
RELEASE = _single(_RELEASE)
RELEASE_PAYLOAD = _single(_RELEASE_PAYLOAD)

# KEYS[1] a registry, then per job its hash and results stream; ARGV pairs of (id, score seen).
# A job whose score changed (it failed or finished again) since it was read is left alone.
PURGE = """
local deleted = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('DEL', KEYS[i + 1], KEYS[i + 2])
    deleted = deleted + 1
  end
end
return deleted
"""
