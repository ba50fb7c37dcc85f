"""A small path language over the snapshot: which figure a rule watches.

    <root>.<key>.<field>   one subject (`queue.long.queued`, `disk.backups.free_pct`)
    <root>.*.<field>       one subject per queue/disk/method/site/worker (`queues.*.oldest_queued_age_s`)
    <root>.<field>         a bench-wide count (`workers.dead`, `started.abandoned`, `host.load_1m`)
    anything else          a fact the caller supplies (`drill.age_hours`, `drill.*.age_hours`)

The key may contain dots (methods and sites do): it is everything between the root and the last
segment. A rule may fold a wildcard's values into one with an aggregate (max, min, sum, avg,
count). Paths are checked when a rule is made, so a typo fails then, not at 3 a.m.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from erp_ops.core.alerts.errors import InvalidRule
from erp_ops.core.signals.models import (
	DiskUsage,
	FailureRate,
	QueueStats,
	SchedulerStatus,
	Severity,
	SiteScheduler,
	Snapshot,
	WorkerInfo,
	WorkerStatus,
)

WILDCARD = "*"
BENCH = ""  # the subject of a bench-wide figure


@dataclass(frozen=True)
class Observation:
	subject: str
	value: float


def _numeric_fields(model: type) -> tuple[str, ...]:
	out = []
	for name, field in model.model_fields.items():
		ann = field.annotation
		if ann in (int, float, bool) or ann in (int | None, float | None):
			out.append(name)
	return tuple(out)


def _scheduler_figures(site: SiteScheduler) -> dict[str, float]:
	return {
		"inactive": float(site.status is SchedulerStatus.INACTIVE),
		"degraded": float(site.status is SchedulerStatus.DEGRADED),
		"critical": float(site.severity is Severity.CRITICAL),
		"overdue_jobs": float(len(site.overdue)),
		"overdue_s": max((j.overdue_s for j in site.overdue), default=0.0),
		"stuck_jobs": float(sum(1 for j in site.overdue if j.stuck_in_queue)),
	}


# root -> (items of the snapshot, key of an item, figures of an item)
_KEYED: dict[str, tuple[Callable[[Snapshot], list], Callable[[object], str], Callable[[object], dict]]] = {
	"queue": (lambda s: s.queues, lambda q: q.short_name, lambda q: q.model_dump()),
	"queues": (lambda s: s.queues, lambda q: q.short_name, lambda q: q.model_dump()),
	"disk": (lambda s: s.host.disks if s.host else [], lambda d: d.label, lambda d: d.model_dump()),
	"failure_rate": (lambda s: s.failure_rates, lambda r: r.method, lambda r: r.model_dump()),
	"scheduler": (lambda s: s.schedulers, lambda x: x.site, _scheduler_figures),
	"worker": (lambda s: s.workers, lambda w: w.name, lambda w: w.model_dump()),
}
_KEYED_FIELDS: dict[str, tuple[str, ...]] = {
	"queue": _numeric_fields(QueueStats),
	"queues": _numeric_fields(QueueStats),
	"disk": _numeric_fields(DiskUsage),
	"failure_rate": _numeric_fields(FailureRate),
	"scheduler": tuple(_scheduler_figures(SiteScheduler(site="x", status=SchedulerStatus.RUNNING))),
	"worker": _numeric_fields(WorkerInfo),
}


def _count(pred: Callable[[Snapshot], int]) -> Callable[[Snapshot], float]:
	return lambda s: float(pred(s))


_BENCH_FIGURES: dict[str, Callable[[Snapshot], float | None]] = {
	"workers.dead": _count(lambda s: sum(w.status is WorkerStatus.DEAD for w in s.workers)),
	"workers.alive": _count(lambda s: sum(w.status is WorkerStatus.ALIVE for w in s.workers)),
	"workers.total": _count(lambda s: len(s.workers)),
	"started.total": _count(lambda s: len(s.started_jobs)),
	"started.abandoned": _count(lambda s: sum(j.abandoned for j in s.started_jobs)),
	"started.overdue": _count(lambda s: sum(j.overdue for j in s.started_jobs)),
	"queues.queued": _count(lambda s: sum(q.queued for q in s.queues)),
	"queues.failed": _count(lambda s: sum(q.failed for q in s.queues)),
	"queues.unserved": _count(lambda s: sum(1 for q in s.queues if q.queued and not q.workers)),
	"locks.stale": _count(lambda s: sum(lock.stale for lock in s.locks)),
	"evidence.backlog": _count(lambda s: s.evidence_backlog),
	"redis.down": _count(lambda s: not s.redis_ok),
	"findings.critical": _count(lambda s: sum(f.severity is Severity.CRITICAL for f in s.findings)),
	"host.load_1m": lambda s: s.host.load_1m if s.host else None,
	"host.load_5m": lambda s: s.host.load_5m if s.host else None,
	"host.memory_used_pct": lambda s: s.host.memory_used_pct if s.host else None,
}
# Figures that still mean something when Redis did not answer (the rest would read as zero).
WITHOUT_REDIS = frozenset(
	{"redis.down", "disk", "host.load_1m", "host.load_5m", "host.memory_used_pct", "locks.stale"}
)


@dataclass(frozen=True)
class SignalPath:
	"""A parsed path: `kind` is bench, keyed or fact."""

	text: str
	kind: str
	root: str = ""
	key: str = ""
	field: str = ""

	@property
	def wildcard(self) -> bool:
		return WILDCARD in (self.key if self.kind == "keyed" else self.text)

	@property
	def needs_redis(self) -> bool:
		if self.kind == "fact":
			return False
		return self.text not in WITHOUT_REDIS and self.root not in WITHOUT_REDIS


def parse(path: str) -> SignalPath:
	"""Check and split a path; raises InvalidRule with the valid choices when it is wrong."""
	text = (path or "").strip()
	if (
		not text
		or any(c.isspace() for c in text)
		or ".." in text
		or text.startswith(".")
		or text.endswith(".")
	):
		raise InvalidRule(f"not a signal path: {path!r}")
	if text in _BENCH_FIGURES:
		return SignalPath(text, "bench", root=text.split(".")[0])
	root, _, rest = text.partition(".")
	if root in _KEYED:
		key, _, field = rest.rpartition(".")
		if not key or not field:
			raise InvalidRule(f"{path!r}: write {root}.<name>.<field> or {root}.*.<field>")
		if field not in _KEYED_FIELDS[root]:
			raise InvalidRule(
				f"{path!r}: {root} has no figure {field!r}; choose from {', '.join(_KEYED_FIELDS[root])}"
			)
		if WILDCARD in key and key != WILDCARD:
			raise InvalidRule(f"{path!r}: the wildcard stands for a whole name: {root}.*.{field}")
		return SignalPath(text, "keyed", root=root, key=key, field=field)
	if root in ("workers", "started", "locks", "evidence", "redis", "findings", "host"):
		raise InvalidRule(
			f"{path!r}: unknown figure; bench-wide figures are {', '.join(sorted(_BENCH_FIGURES))}"
		)
	return SignalPath(text, "fact", root=root)


def observe(
	snapshot: Snapshot, path: SignalPath | str, facts: Mapping[str, float] | None = None
) -> list[Observation]:
	"""The values a path names in this snapshot (and facts), one per subject; [] when absent."""
	p = parse(path) if isinstance(path, str) else path
	if p.kind == "bench":
		value = _BENCH_FIGURES[p.text](snapshot)
		return [] if value is None else [Observation(BENCH, float(value))]
	if p.kind == "keyed":
		items, key_of, figures_of = _KEYED[p.root]
		out = []
		for item in items(snapshot):
			key = key_of(item)
			if p.key != WILDCARD and key != p.key:
				continue
			value = figures_of(item).get(p.field)
			if value is not None:
				out.append(Observation(key, float(value)))
		return sorted(out, key=lambda o: o.subject)
	out = []
	for name, value in (facts or {}).items():
		if value is None:
			continue
		if name == p.text:
			out.append(Observation(BENCH, float(value)))
		elif p.wildcard and fnmatchcase(name, p.text):
			out.append(Observation(_fact_subject(p.text, name), float(value)))
	return sorted(out, key=lambda o: o.subject)


def _fact_subject(pattern: str, name: str) -> str:
	"""What the wildcard stood for: `drill.*.age_hours` over `drill.a.local.age_hours` is `a.local`."""
	if pattern.count(WILDCARD) != 1:
		return name
	head, tail = pattern.split(WILDCARD)
	return name[len(head) : len(name) - len(tail)]
