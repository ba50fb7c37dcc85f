"""How long the app's own scheduled ticks took: one small hash per bench, read by the exporter.

    erp_ops:<bench>:ticks   hash  <site>|<task> -> {"duration_s": …, "ended_at": epoch}   (TTL 7 days)

The scheduler task records its duration when it ends (`record`, one round trip); the exporter and
the site's metrics endpoint read the hash (`read`, one HGETALL) and export
`erp_ops_tick_duration_seconds` and `erp_ops_tick_age_seconds` (a tick that stopped shows as a
growing age). A field per site and task keeps the hash as small as the bench's task list.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from redis import Redis

from erp_ops.core.rq_keys import as_text
from erp_ops.core.signals.prometheus import Tick

TICKS = "erp_ops:{bench}:ticks"
TTL_S = 7 * 86400


def record(
	conn: Redis, bench_id: str, site: str, task: str, duration_s: float, ended_at: float | None = None
) -> None:
	record_many(conn, bench_id, site, {task: duration_s}, ended_at=ended_at)


def record_many(
	conn: Redis, bench_id: str, site: str, durations: dict[str, float], ended_at: float | None = None
) -> None:
	"""Record several tasks' durations (a tick's steps and the tick itself) in one round trip."""
	if not durations:
		return
	key = TICKS.format(bench=bench_id)
	ended = ended_at or time.time()
	pipe = conn.pipeline(transaction=False)
	pipe.hset(
		key,
		mapping={
			f"{site}|{task}": json.dumps({"duration_s": round(duration_s, 6), "ended_at": ended})
			for task, duration_s in durations.items()
		},
	)
	pipe.expire(key, TTL_S)
	pipe.execute()


@contextmanager
def timed(conn: Redis, bench_id: str, site: str, task: str) -> Iterator[None]:
	"""Record the duration of the block, also when it raises (a failing tick is still a tick)."""
	started = time.perf_counter()
	try:
		yield
	finally:
		record(conn, bench_id, site, task, time.perf_counter() - started)


def read(conn: Redis, bench_id: str) -> list[Tick]:
	"""Every recorded tick; a field that is not the JSON `record` writes is skipped."""
	out = []
	for field, raw in conn.hgetall(TICKS.format(bench=bench_id)).items():
		site, sep, task = as_text(field).partition("|")
		try:
			data = json.loads(raw)
			duration, ended = float(data["duration_s"]), float(data["ended_at"])
		except (ValueError, KeyError, TypeError):
			continue
		if sep:
			out.append(
				Tick(
					site=site,
					task=task,
					duration_s=duration,
					ended_at=datetime.fromtimestamp(ended, timezone.utc),
				)
			)
	return sorted(out, key=lambda t: (t.site, t.task))
