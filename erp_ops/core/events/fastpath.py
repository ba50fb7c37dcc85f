"""Redis in front of the store: an in-flight lock and a cache of completed keys. Never the truth.

Key layout (one namespace per site, e.g. `<bench_id>:<site>`):
  erp_ops:<ns>:event-inflight:<key digest>   "<token>|<payload hash>", expires with the claim
  erp_ops:<ns>:event-done:<key digest>       JSON answer of a Processed/Superseded event

Every answer given from Redis is one the database would give: the lock only turns a concurrent
duplicate into "in progress" without a database round trip (the database says the same while the
claim lives), and a done entry is written after the commit, dropped by replay, and confirmed
against its row before it is given (`ingest`): a database restored from an older backup, which
lacks the row, gets the event processed again, not a cached "duplicate". `clear` drops every done
entry of the namespace (the site's clear-cache hook, so a restore's cache clear empties it too).
When Redis is empty, flushed or down, every call falls through to the database: slower, never different.
"""

import json
import logging
from enum import Enum
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core.events.models import EventRecord, EventStatus, IngestResult, answer_fields

log = logging.getLogger(__name__)

INFLIGHT = "erp_ops:{ns}:event-inflight:{digest}"
DONE = "erp_ops:{ns}:event-done:{digest}"

# One round trip before the database: a cached answer, or the lock, or who holds it.
_BEGIN_LUA = """
local done = redis.call('GET', KEYS[2])
if done then return {1, done} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
return {3, redis.call('GET', KEYS[1]) or ''}
"""

# One round trip after: release our lock (only ours) and cache a final answer.
_END_LUA = """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
return 1
"""


class Begin(str, Enum):
	DONE = "done"  # a completed answer is cached: (payload hash, answer)
	LOCKED = "locked"  # we hold the in-flight lock
	HELD = "held"  # another delivery holds it: its payload hash
	UNAVAILABLE = "unavailable"  # Redis did not answer: the database decides alone


class FastPath:
	"""The Redis side of ingest for one namespace. Errors are logged and read as a cache miss."""

	def __init__(self, conn: Redis, namespace: str) -> None:
		self.conn = conn
		self.namespace = namespace
		self._begin = conn.register_script(_BEGIN_LUA)
		self._end = conn.register_script(_END_LUA)

	def _key(self, template: str, digest: str) -> str:
		return template.format(ns=self.namespace, digest=digest)

	def begin(self, digest: str, token: str, payload_hash: str, ttl_s: float) -> tuple[Begin, Any]:
		"""A cached answer `(hash, IngestResult)`, else take the in-flight lock, else the holder's hash."""
		try:
			kind, value = self._begin(
				keys=[self._key(INFLIGHT, digest), self._key(DONE, digest)],
				args=[f"{token}|{payload_hash}", max(1, int(ttl_s * 1000))],
			)
		except RedisError:
			log.warning("erp_ops events: Redis unavailable, answering from the database", exc_info=True)
			return Begin.UNAVAILABLE, None
		if kind == 1:
			return Begin.DONE, _answer(value)
		if kind == 2:
			return Begin.LOCKED, None
		# Expired between the two reads: nobody holds it; the database decides as always.
		return (Begin.HELD, value.decode().partition("|")[2]) if value else (Begin.UNAVAILABLE, None)

	def end(
		self, digest: str, token: str | None, payload_hash: str, record: EventRecord | None, ttl_s: float
	) -> None:
		"""Release our lock (if `token`) and cache the answer of a Processed/Superseded `record`."""
		cached = ""
		if (
			record is not None
			and record.status in (EventStatus.PROCESSED, EventStatus.SUPERSEDED)
			and ttl_s >= 1
		):
			# Encoded as the store encodes `result` (default=str): the cache answers what the database would.
			answer = {**answer_fields(record), "payload_hash": record.payload_hash}
			cached = json.dumps(answer, default=str, separators=(",", ":"))
		if not token and not cached:
			return
		try:
			self._end(
				keys=[self._key(INFLIGHT, digest), self._key(DONE, digest)],
				args=[f"{token}|{payload_hash}" if token else "", cached, int(ttl_s)],
			)
		except RedisError:
			log.warning("erp_ops events: could not release a lock or cache an answer", exc_info=True)

	def remember(self, digest: str, record: EventRecord, ttl_s: float) -> None:
		"""Cache a completed event's answer; only final statuses, which only a replay changes."""
		self.end(digest, None, record.payload_hash or "", record, ttl_s)

	def clear(self) -> int:
		"""Drop every cached answer of the namespace; how many there were."""
		dropped = 0
		try:
			batch = []
			for key in self.conn.scan_iter(match=self._key(DONE, "*"), count=1000):
				batch.append(key)
				if len(batch) >= 1000:
					dropped += self.conn.delete(*batch)
					batch = []
			if batch:
				dropped += self.conn.delete(*batch)
		except RedisError:
			log.warning("erp_ops events: could not clear the cached answers", exc_info=True)
		return dropped

	def forget(self, digest: str) -> None:
		try:
			self.conn.delete(self._key(DONE, digest))
		except RedisError:
			log.warning("erp_ops events: could not drop a cached answer", exc_info=True)


def _answer(raw: bytes) -> tuple[str, IngestResult]:
	data = json.loads(raw)
	return data.pop("payload_hash"), IngestResult.model_validate({**data, "duplicate": True})
