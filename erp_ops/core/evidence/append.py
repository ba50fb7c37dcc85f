"""The one Redis call a job pays for its evidence, and the keys it writes.

Key layout (bench-scoped, like Frappe's `<bench_id>:<queue>` queue names):
  erp_ops:<bench>:evidence:<site>       capped stream of one site's records waiting to be flushed
  erp_ops:<bench>:evidence-sites        the sites that have a stream (for the backlog figure)
  erp_ops:<bench>:attempt:<job id>      executions seen of one job id (numbers the attempts)
  erp_ops:<bench>:outcomes:<minute>     hash `<method>|total` / `<method>|failed`, kept 2 h

Standard library and redis-py only (see fields.py for why).
"""

import hashlib
import time
from typing import Any

from redis.exceptions import NoScriptError

STREAM = "erp_ops:{bench}:evidence:{site}"
STREAM_SITES = "erp_ops:{bench}:evidence-sites"
NO_SITE = "-"  # jobs enqueued outside Frappe name no site
ATTEMPT = "erp_ops:{bench}:attempt:{job_id}"
OUTCOMES = "erp_ops:{bench}:outcomes:{minute}"

STREAM_MAXLEN = 200_000  # about a day of a busy bench if the flush task stops
ATTEMPT_TTL_S = 30 * 86400
OUTCOMES_TTL_S = 2 * 3600

# One round trip: number the attempt, append the record, count the outcome, note the site.
_APPEND_LUA = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local attempt = n + tonumber(ARGV[3])
local fields = {'attempt', tostring(attempt)}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|total', 1)
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[3], ARGV[5] .. '|failed', 1) end
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[7])
return {id, attempt}
"""
# Hashed once, at import: in a bench the worker's parent imports this module (erp_ops.commands
# preloads the job hooks), so no forked horse pays for redis-py's Script object or the digest.
_APPEND_SHA = hashlib.sha1(_APPEND_LUA.encode()).hexdigest()


def stream_key(bench_id: str, site: str | None) -> str:
	"""Each site has its own stream, so each site's flush task stores only its own evidence."""
	return STREAM.format(bench=bench_id, site=site or NO_SITE)


def append_fields(
	conn: Any,
	bench_id: str,
	fields: dict[str, str],
	*,
	failed: bool,
	attempt_base: int = 0,
	maxlen: int = STREAM_MAXLEN,
	now: float | None = None,
) -> tuple[str, int]:
	"""Append one record's string fields (`job_id` required); returns (entry id, attempt given).

	The attempt is `attempt_base` plus the number of executions of this job id seen so far, so a
	job requeued under the same id gets a new attempt and never overwrites its earlier evidence.
	"""
	minute = int((time.time() if now is None else now) // 60)
	site = fields.get("site") or None
	argv: list[str | int] = [
		ATTEMPT_TTL_S,
		maxlen,
		attempt_base,
		OUTCOMES_TTL_S,
		fields.get("method") or "?",
		"1" if failed else "0",
		site or NO_SITE,
	]
	for key, value in fields.items():
		argv += [key, value]
	keys = (
		ATTEMPT.format(bench=bench_id, job_id=fields["job_id"]),
		stream_key(bench_id, site),
		OUTCOMES.format(bench=bench_id, minute=minute),
		STREAM_SITES.format(bench=bench_id),
	)
	try:
		entry_id, attempt = conn.evalsha(_APPEND_SHA, len(keys), *keys, *argv)
	except NoScriptError:  # a restarted Redis forgot the script: load it once, then as before
		conn.script_load(_APPEND_LUA)
		entry_id, attempt = conn.evalsha(_APPEND_SHA, len(keys), *keys, *argv)
	return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), int(attempt)
