"""Redis in front of the store: an in-flight lock and a cache of completed keys. Never the truth.

Key layout (one namespace per site, e.g. `<bench_id>:<site>`):
  erp_ops:<ns>:event-inflight:<key digest>   "<token>|<payload hash>", expires with the claim
  erp_ops:<ns>:event-done:<key digest>       JSON answer of a Processed/Superseded event

Every answer given from Redis is one the database would give: the lock only turns a concurrent
duplicate into "in progress" without a database round trip (the database says the same while the
claim lives), and a done entry is written after the commit and dropped by replay. When Redis is
empty, flushed or down, every call falls through to the database: slower, never different.
"""

import json
import logging

from redis import Redis
from redis.exceptions import RedisError

from erp_ops.core.events.models import EventRecord, EventStatus, IngestResult

log = logging.getLogger(__name__)

INFLIGHT = "erp_ops:{ns}:event-inflight:{digest}"
DONE = "erp_ops:{ns}:event-done:{digest}"

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class FastPath:
	"""The Redis side of ingest for one namespace. Errors are logged and read as a cache miss."""

	def __init__(self, conn: Redis, namespace: str) -> None:
		self.conn = conn
		self.namespace = namespace
		self._release = conn.register_script(_RELEASE_LUA)

	def _key(self, template: str, digest: str) -> str:
		return template.format(ns=self.namespace, digest=digest)

	def acquire(self, digest: str, token: str, payload_hash: str, ttl_s: float) -> str | None:
		"""Take the in-flight lock. Returns None when taken (or Redis is out), else the holder's payload hash."""
		key = self._key(INFLIGHT, digest)
		try:
			if self.conn.set(key, f"{token}|{payload_hash}", nx=True, px=max(1, int(ttl_s * 1000))):
				return None
			held = self.conn.get(key)
		except RedisError:
			log.warning("erp_ops events: Redis unavailable, in-flight lock skipped", exc_info=True)
			return None
		# Expired between the two calls: nobody holds it; the database decides as always.
		return held.decode().partition("|")[2] if held else None

	def release(self, digest: str, token: str, payload_hash: str) -> None:
		try:
			self._release(keys=[self._key(INFLIGHT, digest)], args=[f"{token}|{payload_hash}"])
		except RedisError:
			log.warning("erp_ops events: could not release an in-flight lock (it expires)", exc_info=True)

	def done(self, digest: str) -> tuple[str, IngestResult] | None:
		"""(payload hash, stored answer) of a completed key, or None."""
		try:
			raw = self.conn.get(self._key(DONE, digest))
		except RedisError:
			return None
		if not raw:
			return None
		data = json.loads(raw)
		return data.pop("payload_hash"), IngestResult.model_validate({**data, "duplicate": True})

	def remember(self, digest: str, record: EventRecord, ttl_s: float) -> None:
		"""Cache a completed event's answer; only final statuses, which only a replay changes."""
		if record.status not in (EventStatus.PROCESSED, EventStatus.SUPERSEDED) or ttl_s < 1:
			return
		answer = IngestResult.of(record).model_dump(mode="json", exclude={"duplicate", "enqueue"})
		try:
			self.conn.set(
				self._key(DONE, digest),
				json.dumps({**answer, "payload_hash": record.payload_hash}, separators=(",", ":")),
				ex=int(ttl_s),
			)
		except RedisError:
			log.warning("erp_ops events: could not cache a completed event", exc_info=True)

	def forget(self, digest: str) -> None:
		try:
			self.conn.delete(self._key(DONE, digest))
		except RedisError:
			log.warning("erp_ops events: could not drop a cached answer", exc_info=True)
