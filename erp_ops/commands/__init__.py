"""Bench commands: `bench --site S ops status [--json]` and `bench --site S ops flush-evidence`."""

import json
import sys

import click
import frappe
from frappe.commands import get_site, pass_context

# `bench worker` imports every app's `commands` module before it starts forking a work horse per
# job; importing the job hooks here preloads them in that parent, so no horse pays their import.
import erp_ops.job_hooks

EXIT_CRITICAL = 2  # like `erp-ops status`: monitoring can alert on the exit code alone


@click.group("ops")
def ops() -> None:
	"""Operations control plane (erp_ops)."""


@ops.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON.")
@click.option("--cached", is_flag=True, help="Accept a snapshot from the dashboards' cache.")
@pass_context
def status(context, as_json: bool = False, cached: bool = False) -> None:
	"""Queues, workers, this site's scheduler and findings; exits 2 on a critical finding."""
	from erp_ops.site_facts import site_snapshot

	site = get_site(context)
	frappe.init(site)
	frappe.connect()
	try:
		snap = site_snapshot(cache_seconds=None if cached else 0)
	finally:
		frappe.destroy()
	if as_json:
		click.echo(snap.model_dump_json(indent=2))
	else:
		click.echo(format_status(snap))
	if snap.critical:
		sys.exit(EXIT_CRITICAL)


@ops.command("flush-evidence")
@pass_context
def flush_evidence_command(context) -> None:
	"""Flush Job Evidence from Redis to the database now (the scheduler does it every minute)."""
	from erp_ops.erp_ops.doctype.job_evidence.job_evidence import flush_evidence

	site = get_site(context)
	frappe.init(site)
	frappe.connect()
	try:
		result = flush_evidence()
	finally:
		frappe.destroy()
	if result is None:
		click.secho("Another flush holds this site's lock; nothing done.", fg="yellow")
		sys.exit(1)
	click.echo(json.dumps(result.model_dump()))


def format_status(snap) -> str:
	"""A compact, greppable text view of a snapshot."""
	lines = [f"bench {snap.bench_id} at {snap.taken_at:%Y-%m-%d %H:%M:%S} UTC (read {snap.read_ms:.0f} ms)"]
	if not snap.redis_ok:
		lines.append(f"redis: UNREACHABLE ({snap.redis_error})")
	lines.append("queues:")
	for q in snap.queues:
		age = f"{q.oldest_queued_age_s:.0f}s" if q.oldest_queued_age_s is not None else "-"
		lines.append(
			f"  {q.short_name:<12} queued={q.queued} started={q.started} failed={q.failed} "
			f"workers={q.workers} oldest={age}"
		)
	alive = sum(1 for w in snap.workers if w.status.value == "alive")
	lines.append(f"workers: {alive} alive, {len(snap.workers) - alive} dead")
	for s in snap.schedulers:
		lines.append(f"scheduler {s.site}: {s.status.value}" + (f" ({s.reason})" if s.reason else ""))
	lines.append(f"evidence backlog: {snap.evidence_backlog}")
	if snap.findings:
		lines.append("findings:")
		lines.extend(f"  [{f.severity.value}] {f.message}" for f in snap.findings)
	else:
		lines.append("findings: none")
	return "\n".join(lines)


commands = [ops]
