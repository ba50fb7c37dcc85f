"""The plain-text views every command prints, for `erp-ops` and `bench --site S ops` alike.

One formatter per thing shown, so the two command lines cannot drift: the snapshot table, the
result of a job action, a drill. Framework-free: `bench ops` imports it, never the reverse.
"""

import json
from dataclasses import dataclass


def as_json(data) -> str:
	"""A model or a dict as indented JSON."""
	if hasattr(data, "model_dump"):
		data = data.model_dump(mode="json")
	return json.dumps(data, indent=1, default=str)


def status_text(snap) -> str:
	"""A plain-text view of the snapshot for a terminal or a cron mail."""
	lines = [f"bench {snap.bench_id} at {snap.taken_at:%Y-%m-%d %H:%M:%S} UTC ({snap.read_ms:.1f} ms)"]
	if not snap.redis_ok:
		lines.append(f"REDIS UNREACHABLE: {snap.redis_error}")
	lines += [
		"",
		_table(
			[
				"queue",
				"queued",
				"running",
				"abandoned",
				"failed",
				"deferred",
				"scheduled",
				"finished",
				"oldest",
				"head",
				"workers",
			],
			[
				[
					q.short_name,
					q.queued,
					q.running,
					q.abandoned,
					q.failed,
					q.deferred,
					q.scheduled,
					q.finished,
					("" if q.oldest_queued_exact else ">=") + _age(q.oldest_queued_age_s),
					_age(q.head_age_s),
					q.workers,
				]
				for q in snap.queues
			],
		),
	]
	if len(snap.sites) > 1 or snap.site:
		lines += [
			"",
			_table(
				["site", "queued", "running", "abandoned", "failed"],
				[[s.site + (" (this site)" if s.site == snap.site else ""), *_bound(s)] for s in snap.sites],
			),
		]
	if snap.workers:
		lines += [
			"",
			_table(
				["worker", "status", "state", "current job", "heartbeat", "ok", "failed", "rss", "jobs held"],
				[
					[
						w.name,
						w.status.value,
						w.state or "",
						w.current_job or "",
						_age(w.heartbeat_age_s),
						w.successful_jobs,
						w.failed_jobs,
						_bytes(w.rss_bytes),
						len(w.jobs_held),
					]
					for w in snap.workers
				],
			),
		]
	else:
		lines += ["", "no workers registered"]
	failing = [r for r in snap.failure_rates if r.failed_1h]
	if failing:
		lines += [
			"",
			_table(
				["method", "failed 5m", "failed 1h", "rate 1h", "only in RQ 1h"],
				[
					[
						r.method,
						f"{r.failed_5m}/{r.total_5m}",
						f"{r.failed_1h}/{r.total_1h}",
						f"{r.rate_1h:.0%}",
						r.rq_only_failed_1h,
					]
					for r in failing[:10]
				],
			),
		]
	if snap.rq_failures and snap.rq_failures.by_exception:
		more = " (at least: the read window ended first)" if snap.rq_failures.bounded else ""
		lines += [
			"",
			f"failed in RQ's registries, last hour by ended_at{more}:",
			_table(
				["exception", "5m", "1h"],
				[[c.key, c.failed_5m, c.failed_1h] for c in snap.rq_failures.by_exception[:10]],
			),
		]
	if snap.schedulers:
		lines.append("")
		lines += [
			f"scheduler {s.site}: {s.status.value}" + (f" ({s.reason})" if s.reason else "")
			for s in snap.schedulers
		]
	if snap.evidence_backlog:
		lines.append(f"evidence backlog: {snap.evidence_backlog} record(s) not yet flushed")
	if snap.host:
		for d in snap.host.disks:
			lines.append(f"disk {d.label}: {_bytes(d.free_bytes)} free ({d.free_pct}%) at {d.path}")
	lines.append("")
	if snap.findings:
		lines += [f"{f.severity.value.upper():8} {f.message}" for f in snap.findings]
	else:
		lines.append("OK       nothing to report")
	return "\n".join(lines)


def _bound(site) -> list[str]:
	"""A site's figures; `>=` marks lower bounds (a queue longer than the read window)."""
	mark = "" if site.exact else ">="
	return [f"{mark}{n}" for n in (site.queued, site.started, site.abandoned, site.failed)]


def _table(header: list[str], rows: list[list]) -> str:
	cells = [header] + [[str(c) for c in row] for row in rows]
	widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
	return "\n".join(
		"  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
	)


def _age(seconds: float | None) -> str:
	if seconds is None:
		return "-"
	seconds = int(seconds)
	if seconds < 120:
		return f"{seconds}s"
	if seconds < 7200:
		return f"{seconds // 60}m"
	return f"{seconds // 3600}h"


def _bytes(n: int | None) -> str:
	if n is None:
		return "-"
	for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
		if n < 1024 or unit == "TiB":
			return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
		n /= 1024
	return str(n)


@dataclass(frozen=True)
class Scope:
	"""Where an action's hints point: the command that continues it and whose jobs it covered."""

	command: str  # e.g. "erp-ops jobs" or "bench --site S ops jobs"
	covers: str | None  # said under a bulk or purge result; None to say nothing


def action_text(result, scope: Scope) -> str:
	"""A job action's result (a model or its dict) as `key: value` lines, then what to do next."""
	data = result if isinstance(result, dict) else result.model_dump(mode="json")
	lines = []
	for key, value in data.items():
		if value in (None, [], {}):
			continue
		if isinstance(value, (dict, list)):
			value = json.dumps(value, default=str)
		lines.append(f"{key}: {value}")
	if data.get("token") and data.get("state") in ("ready", "pending approval"):
		hint = (
			"approve it with --approve TOKEN --by <someone else>, then " if data["state"] != "ready" else ""
		)
		lines.append(f"dry run: nothing changed; {hint}run `{scope.command} bulk --execute {data['token']}`")
	elif data.get("dry_run"):
		lines.append("dry run: nothing deleted; add --execute to delete")
	if scope.covers and ("matched" in data or data.get("token")):
		lines.append(f"scope: {scope.covers}")
	return "\n".join(lines)


def drill_text(result) -> str:
	"""The drill as plain text for a terminal or a cron mail."""
	verdict = {"not_verified": "RESTORED, NOT VERIFIED"}.get(
		result.outcome.value, result.outcome.value.upper()
	)
	lines = [
		f"drill of {result.backup_stamp} ({result.backup_folder}): {verdict}",
		f"  {result.reason}",
		"  RPO {} · RTO {} · verify {} · scratch {} ({})".format(
			_duration(result.rpo_s),
			_duration(result.rto_s),
			_duration(result.verify_s),
			result.scratch_database,
			"dropped"
			if result.scratch_dropped
			else "NOT dropped"
			if result.rto_s is not None
			else "not created",
		),
	]
	if result.chosen_because:
		lines.append(f"  chosen: {result.chosen_because}")
	if result.swept:
		lines.append(f"  swept stale scratch databases: {', '.join(result.swept)}")
	lines.append("")
	for f in result.files:
		lines.append(f"  {f.kind.value:<14} {f.size:>14,d} B  sha256 {f.sha256[:16]}…  {f.name}")
	lines.append("")
	for check in result.checks:
		lines.append(f"  {check.status.value.upper():<5} {check.code:<22} {check.reason}")
	return "\n".join(lines)


def _duration(seconds: float | None) -> str:
	if seconds is None:
		return "-"
	if seconds < 120:
		return f"{seconds:.1f}s"
	if seconds < 7200:
		return f"{seconds / 60:.1f}min"
	return f"{seconds / 3600:.1f}h"
