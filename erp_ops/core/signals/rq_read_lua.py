"""The server-side read of one queue (Lua), kept in Python so every way of installing the app ships it.

It only reads: no key is written, expired or moved (tests/core/test_rq_state.py dumps the database
before and after a read).
"""

SCRIPT = """-- One queue of a bench, read in one server-side pass. Only reads: no key is written, expired or
-- moved (tests/core/test_rq_state.py dumps the database before and after).
--
-- KEYS: 1 queue list, 2 intermediate list, 3 started, 4 finished, 5 failed, 6 canceled,
--       7 deferred, 8 scheduled, 9 the rq:workers:<queue> set
-- ARGV: 1 now (epoch seconds), 2 head window (jobs whose enqueued_at is compared),
--       3 site window (queued ids counted per site), 4 started limit, 5 failed window,
--       6 one hour ago as RQ writes times, 7 erp_ops attempt-key prefix, 8 '1' when started
--       members are `job_id:execution_id` (rq 2), 9 '1' when the deferred registry expires (rq 2),
--       10 job-key prefix, 11 results-stream prefix, 12 most unreadable keys to report,
--       13 margin: entries past the oldest (queue) or the hour (failed registry) read before stopping,
--       14 five minutes ago as RQ writes times
local now = ARGV[1]
local head_window = tonumber(ARGV[2])
local site_window = tonumber(ARGV[3])
local job_prefix = ARGV[10]
local max_bad = tonumber(ARGV[12])

local bad, flagged, bad_count = {}, {}, 0
local function unreadable(key, kind, why)
	if flagged[key] then return end
	flagged[key] = true
	bad_count = bad_count + 1
	if #bad < max_bad then
		if not kind then kind = redis.call('TYPE', key).ok end
		bad[#bad + 1] = {key, kind, why}
	end
end

-- true when the key exists with the type RQ gives it; a wrong type is reported, not read
local function present(key, want)
	local kind = redis.call('TYPE', key).ok
	if kind == want then return true end
	if kind ~= 'none' then unreadable(key, kind, 'expected a ' .. want) end
	return false
end

-- fields of a job hash, or nil when the key holds something else
local function job_fields(key, ...)
	local reply = redis.pcall('HMGET', key, ...)
	if type(reply) == 'table' and reply.err then
		unreadable(key, nil, 'a job key that is not a hash')
		return nil
	end
	return reply
end

-- an RQ time string, or false when absent (RQ writes '' for a time not reached yet); a value
-- that is not one is reported
local function stamp(key, field, value)
	if not value or value == '' then return false end
	if string.find(value, '^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d') then return value end
	unreadable(key, 'hash', field .. ' is not a time: ' .. string.sub(value, 1, 40))
	return false
end

local find, sub = string.find, string.sub

-- Frappe's job-id prefix: `<site>::` (v15) or `<site>||` (v16)
local function site_of(id)
	local at = find(id, '::', 1, true)
	if not at or at == 1 then at = find(id, '||', 1, true) end
	if at and at > 1 then return sub(id, 1, at - 1) end
	return nil
end

-- flat {site, count, ...} of the first `last` ids
local function count_sites(ids, last)
	local per, order = {}, {}
	for i = 1, last do
		local id = ids[i]
		local at = find(id, '::', 1, true)
		if not at or at == 1 then at = find(id, '||', 1, true) end
		if at and at > 1 then
			local site = sub(id, 1, at - 1)
			local n = per[site]
			if n then per[site] = n + 1 else per[site] = 1; order[#order + 1] = site end
		end
	end
	local flat = {}
	for _, site in ipairs(order) do flat[#flat + 1] = site; flat[#flat + 1] = per[site] end
	return flat
end

local function zcount_present(key)
	if present(key, 'zset') then return redis.call('ZCOUNT', key, now, '+inf') end
	return 0
end

local function zcard(key)
	if present(key, 'zset') then return redis.call('ZCARD', key) end
	return 0
end

-- counts: queued, intermediate, started (current), started (expired), finished, failed, canceled,
-- deferred, scheduled
local counts = {0, 0, 0, 0, 0, 0, 0, 0, 0}
if present(KEYS[1], 'list') then counts[1] = redis.call('LLEN', KEYS[1]) end
if present(KEYS[2], 'list') then counts[2] = redis.call('LLEN', KEYS[2]) end
local started_ok = present(KEYS[3], 'zset')
if started_ok then
	counts[3] = redis.call('ZCOUNT', KEYS[3], now, '+inf')
	counts[4] = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. now)
end
counts[5] = zcount_present(KEYS[4])
local failed_ok = present(KEYS[5], 'zset')
if failed_ok then counts[6] = redis.call('ZCOUNT', KEYS[5], now, '+inf') end
counts[7] = zcard(KEYS[6])
if ARGV[9] == '1' then counts[8] = zcount_present(KEYS[7]) else counts[8] = zcard(KEYS[7]) end
counts[9] = zcard(KEYS[8])

-- The head and the oldest waiting job. RQ appends with RPUSH (enqueued_at ascending from the
-- head) and puts at_front jobs in front with LPUSH (descending from the head): the times along
-- the list fall to the oldest job, then rise. The scan walks from the head until the times have
-- risen `margin` jobs in a row past the lowest (or the window ends), so a FIFO queue costs a few
-- reads and a run of k at_front jobs k + margin. `open_ended` says the window ended first.
local head, oldest = {false, false}, {false, false, 0, 0}
local queued_sites, queued_scanned = {}, 0
if counts[1] > 0 then
	local margin = tonumber(ARGV[13])
	local ids = redis.call('LRANGE', KEYS[1], 0, site_window - 1)
	queued_scanned = #ids
	queued_sites = count_sites(ids, queued_scanned)
	local best, best_id, best_at, rising, read = nil, false, 0, 0, 0
	local i = 1
	while i <= counts[1] and i <= head_window and rising < margin do
		local id = ids[i]
		if not id then id = redis.call('LINDEX', KEYS[1], i - 1) end
		if not id then break end
		local key = job_prefix .. id
		local fields = job_fields(key, 'enqueued_at', 'created_at')
		local at = false
		if fields then at = stamp(key, 'enqueued_at', fields[1]) or stamp(key, 'created_at', fields[2]) end
		if i == 1 then head = {id, at} end
		if at then
			if best == nil or at < best then best, best_id, best_at, rising = at, id, i, 0 else rising = rising + 1 end
		end
		read = i
		i = i + 1
	end
	local open_ended = 0
	if rising < margin and read < counts[1] then open_ended = 1 end
	oldest = {best_id, best or false, read, open_ended}
end

-- Started jobs with what the figures need from their hashes (about one per worker).
local started = {}
if started_ok then
	local members = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[4]) - 1, 'WITHSCORES')
	for i = 1, #members, 2 do
		local member = members[i]
		local id = member
		if ARGV[8] == '1' then
			local bare = string.match(member, '^(.+):[^:]*$')
			if bare then id = bare end
		end
		local key = job_prefix .. id
		local f = job_fields(key, 'started_at', 'timeout', 'worker_name', 'data', 'last_heartbeat')
		if f then
			started[#started + 1] = {
				member, members[i + 1], stamp(key, 'started_at', f[1]), f[2], f[3], f[4],
				stamp(key, 'last_heartbeat', f[5]),
			}
		else
			started[#started + 1] = {member, members[i + 1], false, false, false, false, false}
		end
	end
end

-- Failed jobs: RQ scores a failure ended_at + failure_ttl, so with one failure_ttl the entries
-- from the highest score down are the most recent failures. The walk reads ended_at from there
-- and stops after `margin` entries in a row that ended before the hour (or at the window's end).
-- The failures of the hour come back as {id, recent, seen, method, data, exception, count}:
-- seen when erp_ops's evidence saw the run (its attempt key exists); for the others the method,
-- from RQ's call string (`method='...'` of Frappe's execute_job) or else the pickled data;
-- the exception as an index into a list of distinct tracebacks (a storm repeats them). Failures
-- alike in site, window, sighting, method and traceback share one row (count); a row with data
-- is one failure.
-- Every id in the window is counted per site.
local failures, excs, failed_sites, failed_scanned, failed_walked, failed_complete = {}, {}, {}, 0, 0, 1
if failed_ok and counts[6] > 0 then
	local margin = tonumber(ARGV[13])
	local exc_index, groups = {}, {}
	local ids = redis.call('ZREVRANGEBYSCORE', KEYS[5], '+inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
	failed_scanned = #ids
	failed_sites = count_sites(ids, #ids)
	local older = 0
	for i = 1, #ids do
		if older >= margin then break end
		failed_walked = i
		local id = ids[i]
		local key = job_prefix .. id
		local f = job_fields(key, 'ended_at', 'exc_info', 'description')
		local ended = f and stamp(key, 'ended_at', f[1])
		if ended and ended >= ARGV[6] then
			older = 0
			local exc, encoding = false, false
			local results = ARGV[11] .. id
			local entries = redis.pcall('XREVRANGE', results, '+', '-', 'COUNT', 1)
			if type(entries) == 'table' and entries.err then
				if redis.call('TYPE', results).ok ~= 'none' then
					unreadable(results, nil, 'a results key that is not a stream')
				end
			elseif entries[1] then
				local pairs_ = entries[1][2]
				for j = 1, #pairs_, 2 do
					if pairs_[j] == 'exc_string' then exc, encoding = pairs_[j + 1], 'b64zlib' end
				end
			end
			if not exc and f[2] then exc, encoding = f[2], 'zlib' end
			local exc_at = 0
			if exc then
				local tag = encoding .. ':' .. exc
				exc_at = exc_index[tag]
				if not exc_at then
					excs[#excs + 1] = {exc, encoding}
					exc_at = #excs
					exc_index[tag] = exc_at
				end
			end
			local seen = redis.call('EXISTS', ARGV[7] .. id)
			local method, data = false, false
			if seen == 0 then
				if f[3] then method = string.match(f[3], "[(,] ?method='([^']+)'[,)]") or false end
				if not method then
					data = redis.pcall('HGET', key, 'data')
					if type(data) == 'table' then data = false end
				end
			end
			local recent = 0
			if ended >= ARGV[14] then recent = 1 end
			if data then
				failures[#failures + 1] = {id, recent, seen, false, data, exc_at, 1}
			else
				-- the same site, window, sighting, method and traceback: one row with a count
				local site = site_of(id) or ''
				local group = table.concat({site, recent, seen, method or '', exc_at}, ' ')
				local at = groups[group]
				if at then
					local row = failures[at]
					row[7] = row[7] + 1
				else
					failures[#failures + 1] = {id, recent, seen, method, false, exc_at, 1}
					groups[group] = #failures
				end
			end
		elseif ended then
			older = older + 1
		end
	end
	if older < margin and failed_walked < counts[6] then failed_complete = 0 end
end

local workers = {}
if present(KEYS[9], 'set') then workers = redis.call('SMEMBERS', KEYS[9]) end

return {
	counts, head, oldest, queued_sites, queued_scanned, started, failed_sites, failed_scanned,
	failures, workers, bad, bad_count, failed_walked, failed_complete, excs,
}
"""
