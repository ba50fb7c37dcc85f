"""Alert state in Redis: one small hash per bench, an outbox of transitions, one evaluation lock.

Keys (`<bench>` is Frappe's bench id, as for every erp_ops key):

    erp_ops:<bench>:alerts           hash  <rule>|<subject> -> Alert JSON     (TTL 7 days, refreshed)
    erp_ops:<bench>:alerts:outbox    list  Transition JSON, oldest first       (capped, TTL 7 days)
    erp_ops:<bench>:alerts:lock      string token, PX 60 s                     (one evaluator at a time)
    erp_ops:<bench>:alerts:webhook-down:<sha1 of url>   "1", EX cooldown       (skip a dead receiver)

Why Redis and not only the database: the state changes every minute for every subject, most of it
(pending, folded duplicates, flap counters) is never worth a row, and the evaluator must run even
when the database is the thing that is slow. The Frappe layer stores what people need to see —
each transition — as `Ops Alert` rows, from the outbox.

Protocol: under the lock, load the hash, evaluate, then in ONE MULTI replace the hash and append
the transitions to the outbox. A crash before EXEC changes nothing (the next minute evaluates
again); after EXEC the transitions wait in the outbox. The drainer reads the head, stores and
sends, then trims exactly what it read (a Lua check that the head is unchanged), so a crash in
between redelivers: transition ids are stable, the `Ops Alert` insert ignores one it has.
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from redis import Redis

from erp_ops.core import redis_lock
from erp_ops.core.alerts import engine
from erp_ops.core.alerts.errors import EvaluationBusy
from erp_ops.core.alerts.models import Alert, AlertRule, Evaluation, Transition
from erp_ops.core.signals.models import Snapshot

ALERTS = "erp_ops:{bench}:alerts"
OUTBOX = "erp_ops:{bench}:alerts:outbox"
LOCK = "erp_ops:{bench}:alerts:lock"
WEBHOOK_DOWN = "erp_ops:{bench}:alerts:webhook-down:{digest}"
STATE_TTL_S = 7 * 86400
OUTBOX_MAX = 10_000
LOCK_MS = 60_000

# Trim the first n entries only if the n-th is still the one the drainer read.
_TRIM_HEAD = """
local n = tonumber(ARGV[1])
if n <= 0 then return 0 end
if redis.call('LINDEX', KEYS[1], n - 1) == ARGV[2] then
  redis.call('LTRIM', KEYS[1], n, -1)
  return n
end
return 0
"""


def load(conn: Redis, bench_id: str) -> list[Alert]:
	"""Every alert of the bench: pending, firing, and resolved ones still inside their flap window."""
	raw = conn.hgetall(ALERTS.format(bench=bench_id))
	return sorted((Alert.model_validate_json(v) for v in raw.values()), key=lambda a: (a.rule, a.subject))


def evaluate(
	conn: Redis,
	bench_id: str,
	rules: Iterable[AlertRule],
	snapshot: Snapshot,
	*,
	facts: Mapping[str, float] | None = None,
	now: datetime | None = None,
	lock_ms: int = LOCK_MS,
) -> Evaluation:
	"""Load, evaluate, save and queue the transitions; raises EvaluationBusy if another runs."""
	with _locked(conn, bench_id, lock_ms, wait_s=0):
		result = engine.evaluate(rules, snapshot, load(conn, bench_id), facts=facts, now=now)
		_save(conn, bench_id, result.alerts, result.transitions)
		return result


def acknowledge(
	conn: Redis,
	bench_id: str,
	rule: str,
	subject: str,
	user: str,
	*,
	note: str | None = None,
	now: datetime,
	wait_s: float = 5,
) -> Transition:
	"""Acknowledge an open alert (raises AlertNotFound); the transition goes to the outbox too."""
	with _locked(conn, bench_id, LOCK_MS, wait_s=wait_s):
		alerts, transition = engine.acknowledge(load(conn, bench_id), rule, subject, user, now, note)
		_save(conn, bench_id, alerts, [transition])
		return transition


def pending_transitions(conn: Redis, bench_id: str, limit: int = 500) -> list[Transition]:
	"""The oldest transitions not yet drained (at most `limit`)."""
	return [
		Transition.model_validate_json(raw)
		for raw in conn.lrange(OUTBOX.format(bench=bench_id), 0, limit - 1)
	]


def drain(
	conn: Redis,
	bench_id: str,
	handle: Callable[[list[Transition]], None],
	*,
	limit: int = 500,
	lock_ms: int = LOCK_MS,
) -> int:
	"""Give the oldest transitions to `handle` (store, notify), then drop them; returns how many.

	If `handle` raises, nothing is dropped and the same transitions come again next time.
	"""
	key = OUTBOX.format(bench=bench_id)
	with _locked(conn, bench_id, lock_ms, wait_s=0):
		raw = conn.lrange(key, 0, limit - 1)
		if not raw:
			return 0
		handle([Transition.model_validate_json(r) for r in raw])
		return int(conn.eval(_TRIM_HEAD, 1, key, len(raw), raw[-1]))


def webhook_allowed(conn: Redis, bench_id: str, url: str) -> bool:
	"""False while a receiver that failed is cooling down: one failure, not a storm of retries."""
	return not conn.exists(WEBHOOK_DOWN.format(bench=bench_id, digest=_digest(url)))


def webhook_failed(conn: Redis, bench_id: str, url: str, cooldown_s: int = 300) -> None:
	conn.set(WEBHOOK_DOWN.format(bench=bench_id, digest=_digest(url)), "1", ex=max(1, int(cooldown_s)))


def _save(conn: Redis, bench_id: str, alerts: list[Alert], transitions: list[Transition]) -> None:
	key, outbox = ALERTS.format(bench=bench_id), OUTBOX.format(bench=bench_id)
	pipe = conn.pipeline(transaction=True)
	pipe.delete(key)
	if alerts:
		pipe.hset(key, mapping={a.key: a.model_dump_json() for a in alerts})
		pipe.expire(key, STATE_TTL_S)
	if transitions:
		pipe.rpush(outbox, *(t.model_dump_json() for t in transitions))
		pipe.ltrim(outbox, -OUTBOX_MAX, -1)
		pipe.expire(outbox, STATE_TTL_S)
	pipe.execute()


@contextmanager
def _locked(conn: Redis, bench_id: str, lock_ms: int, wait_s: float) -> Iterator[None]:
	"""The bench's evaluation lock; EvaluationBusy when another evaluation holds it past `wait_s`."""
	key = LOCK.format(bench=bench_id)
	with redis_lock.held(conn, key, timeout_s=lock_ms / 1000, wait_s=wait_s) as acquired:
		if not acquired:
			raise EvaluationBusy(
				f"alert evaluation is running elsewhere (lock {key}, {conn.pttl(key)} ms left)"
			)
		yield


def _digest(url: str) -> str:
	return hashlib.sha1(url.encode()).hexdigest()
