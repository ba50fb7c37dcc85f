"""A separate process that delivers events to the core, or processes one stored event.

	python -m tests.support.event_worker deliver SPEC.json OUT.json
	python -m tests.support.event_worker process SPEC.json OUT.json

SPEC: {"db": connect kwargs, "redis": URL or null, "namespace": str, "claim_ttl_s"/"inflight_lock_s",
"start_at": epoch seconds to wait for (so workers start together), "deliveries": [[type, key, body]],
"name": event name for `process`, "time_zone": the tables' zone, UTC by default}. OUT receives the tally of answers.
"""

import json
import sys
import time
from collections import Counter

from redis import Redis

from erp_ops.core.events.errors import EventRefused, InProgress, KeyConflict
from erp_ops.core.events.fastpath import FastPath
from erp_ops.core.events.ingest import ingest, process
from erp_ops.core.events.models import IngestRequest, IngestSettings
from tests.support.event_handlers import registry
from tests.support.event_store import MariaDBEventStore


def main() -> None:
	mode, spec_path, out_path = sys.argv[1:4]
	with open(spec_path) as f:
		spec = json.load(f)
	store = MariaDBEventStore(spec["db"], time_zone=spec.get("time_zone", "UTC"))
	fast = FastPath(Redis.from_url(spec["redis"]), spec["namespace"]) if spec.get("redis") else None
	settings = IngestSettings(
		claim_ttl_s=spec.get("claim_ttl_s", 300), inflight_lock_s=spec.get("inflight_lock_s", 30)
	)
	handlers = registry()
	tally: Counter = Counter()
	time.sleep(max(0.0, spec.get("start_at", 0) - time.time()))
	if mode == "process":
		result = process(store, handlers, spec["name"], settings=settings, fast=fast)
		tally[result.status.value if result else "missing"] += 1
	else:
		for event_type, key, body in spec["deliveries"]:
			request = IngestRequest(source="shop", event_type=event_type, idempotency_key=key, body=body)
			try:
				answer = ingest(store, handlers, request, settings=settings, fast=fast)
				tally["duplicate" if answer.duplicate else "new"] += 1
				tally[f"status:{answer.status.value}"] += 1
			except InProgress:
				tally["in_progress"] += 1
			except KeyConflict:
				tally["conflict"] += 1
			except EventRefused as e:
				tally[f"refused:{type(e).__name__}"] += 1
	with open(out_path, "w") as f:
		json.dump(dict(tally), f)


if __name__ == "__main__":
	main()
