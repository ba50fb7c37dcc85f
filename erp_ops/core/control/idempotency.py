"""Idempotent calls: the same request id acts once; a repeat returns the first result.

`erp_ops:<bench>:control:request:<id>` holds the request's fingerprint (what it asked for), its
state and, once done, its result. Claiming is one Lua call, so two calls racing with one id
cannot both act: the second gets `RequestInFlight` while the first runs, the stored result after.
An id reused for a different request is refused (`RequestMismatch`). A call that raised did
nothing (every action is all or nothing), so its claim is dropped and the id may be used again.
"""

import hashlib
import json
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from redis import Redis

from erp_ops.core.control import keys
from erp_ops.core.control.errors import RequestInFlight, RequestMismatch
from erp_ops.core.errors import InvalidInput
from erp_ops.core.rq_keys import as_text

M = TypeVar("M", bound=BaseModel)

RESULT_TTL_S = 24 * 3600
LEASE_S = 15 * 60  # a claim whose process died frees the id after this long
REQUEST_ID_MAX = 140

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'state', 'running')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'claimed'}
end
return {redis.call('HGET', KEYS[1], 'state') or '', redis.call('HGET', KEYS[1], 'fingerprint') or '',
  redis.call('HGET', KEYS[1], 'result') or ''}
"""


def fingerprint(action: str, **params: object) -> str:
	"""A digest of what a request asks for: same action and parameters, same fingerprint."""
	canonical = json.dumps({"action": action, **params}, sort_keys=True, separators=(",", ":"), default=str)
	return hashlib.sha256(canonical.encode()).hexdigest()


def once(
	conn: Redis,
	bench_id: str,
	request_id: str,
	request_fingerprint: str,
	model: type[M],
	act: Callable[[], M],
	*,
	ttl_s: int = RESULT_TTL_S,
	lease_s: int = LEASE_S,
	site: str | None = None,
) -> M:
	"""Run `act` unless this request id already ran; return its (first) result either way.

	With `site`, request ids are that site's own: another site's id neither answers nor blocks it.
	"""
	if not request_id or len(request_id) > REQUEST_ID_MAX:
		raise InvalidInput(f"request id must be 1 to {REQUEST_ID_MAX} characters")
	key = keys.request_key(bench_id, request_id, site)
	reply = [
		as_text(v) for v in conn.register_script(_CLAIM)(keys=[key], args=[request_fingerprint, lease_s])
	]
	if reply[0] != "claimed":
		state, stored_fingerprint, result = reply
		if stored_fingerprint != request_fingerprint:
			raise RequestMismatch(f"request id {request_id} was already used for another request")
		if state == "done":
			return model.model_validate_json(result)
		raise RequestInFlight(f"request {request_id} is being processed; repeat it to get its result")
	try:
		outcome = act()
	except BaseException:
		conn.delete(key)
		raise
	pipe = conn.pipeline(transaction=True)
	pipe.hset(key, mapping={"state": "done", "result": outcome.model_dump_json()})
	pipe.expire(key, ttl_s)
	pipe.execute()
	return outcome
