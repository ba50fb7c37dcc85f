"""Bench commands: `bench --site S ops status [--json]`, `ops flush-evidence`, `ops verify-log`,
`ops chain-restored --reason R` (after a restore from backup),
`ops preflight --target N [--json]` (stored as an Upgrade Preflight), `ops drill [--json]` (stored
as a Restore Drill), `ops backup` (backup with files + manifest) and `ops jobs …` (the
control actions, as `erp-ops jobs` but through the site: logged, with Quarantine records, as
Administrator unless `--user` is given)."""

import json
import sys

import click
import frappe
from frappe.commands import get_site, pass_context

# `bench worker` imports every app's `commands` module before it starts forking a work horse per
# job; importing the job hooks here preloads them in that parent, so no horse pays their import.
import erp_ops.job_hooks

if {"worker", "worker-pool"} & set(sys.argv[1:]):
	# The per-minute tick's modules too (site adapters, the core's pydantic models): imported in a
	# fresh horse they cost about a second a minute per site (benchmarks/own_cost.py); preloaded in
	# the worker's parent, every horse inherits them. Other bench commands do not pay for this.
	# frappe.get_all's filter conditions import frappe.boot lazily: ~0.5 s in every horse.
	import frappe.boot

	import erp_ops.tasks
	from erp_ops.site import alert_facts, alerts, control, drills, events, evidence

EXIT_CRITICAL = 2  # like `erp-ops status`: monitoring can alert on the exit code alone
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")


@click.group("ops")
def ops() -> None:
	"""Operations control plane (erp_ops)."""


@ops.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot as JSON.")
@click.option("--cached", is_flag=True, help="Accept a snapshot from the dashboards' cache.")
@pass_context
def status(context, as_json: bool = False, cached: bool = False) -> None:
	"""Queues, workers, this site's scheduler and findings; exits 2 on a critical finding."""
	from erp_ops.cli import render
	from erp_ops.site.signals import site_snapshot

	site = get_site(context)
	frappe.init(site)
	frappe.connect()
	try:
		snap = site_snapshot(cache_seconds=None if cached else 0)
	finally:
		frappe.destroy()
	click.echo(snap.model_dump_json(indent=2) if as_json else render.status_text(snap))
	if snap.critical:
		sys.exit(EXIT_CRITICAL)


@ops.command("flush-evidence")
@pass_context
def flush_evidence_command(context) -> None:
	"""Flush Job Evidence from Redis to the database now (the scheduler does it every minute)."""
	from erp_ops.site.evidence import flush_evidence

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


@ops.command("verify-log")
@pass_context
def verify_log_command(context) -> None:
	"""Check the Ops Action Log's hash chain; exits 2 and names the first bad row if it broke."""
	from erp_ops.site.audit import verify_log

	verdict = _with_site(context, None, verify_log)
	if verdict.ok:
		click.echo(f"Ops Action Log: {verdict.checked} row(s), chain intact ({verdict.anchor})")
		return
	click.secho(
		f"Ops Action Log chain BROKEN at row {verdict.first_broken} ({verdict.first_broken_name}): {verdict.reason}",
		fg="red",
	)
	sys.exit(EXIT_CRITICAL)


@ops.command("chain-restored")
@click.option("--reason", required=True, help="Which backup was restored, and why (logged).")
@click.option("--user", help="Record as this user (default Administrator).")
@pass_context
def chain_restored_command(context, reason: str, user=None) -> None:
	"""After restoring this site's database from a backup: record the restore in the Ops Action Log
	and as its newest anchor, so `verify-log` compares with the restored log from now on."""
	from erp_ops.core.errors import InvalidInput
	from erp_ops.site.audit import record_restore

	if not reason.strip():
		raise click.UsageError("--reason must not be empty")
	try:
		name = _with_site(context, user, lambda: record_restore(reason))
	except InvalidInput as e:
		click.secho(f"refused: {e}", fg="red", err=True)
		sys.exit(EXIT_CRITICAL)
	click.echo(f"restore recorded as Ops Action Log {name}")


@ops.command("preflight")
@click.option("--target", required=True, type=int, help="Target Frappe major version, e.g. 16.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (default: plain text).")
@click.option("--user", help="Run as this user (default Administrator); their roles apply.")
@pass_context
def preflight_command(context, target: int, as_json: bool = False, user=None) -> None:
	"""Upgrade preflight of this site and its bench, stored as an Upgrade Preflight; exits 2 on a blocker."""
	from erp_ops.api import preflight as api

	def call() -> tuple[dict, str]:
		result = api.run(target=target, now=True)
		if not as_json:
			return result, result["text"]  # plain text: the stored Markdown is Desk's
		return result, frappe.db.get_value("Upgrade Preflight", result["name"], "report_json")

	result, text = _with_site(context, user, call)
	click.echo(text)
	if not as_json:
		click.echo(f"Stored as Upgrade Preflight {result['name']}")
	if result["verdict"] == "do_not_proceed":
		sys.exit(EXIT_CRITICAL)


@ops.command("drill")
@click.option("--json", "as_json", is_flag=True, help="Print the drill result as JSON.")
@click.option("--backup-folder", help="Drill the newest set in this folder (default: the site's backups).")
@pass_context
def drill_command(context, as_json: bool = False, backup_folder=None) -> None:
	"""Restore drill of the newest backup, stored as a Restore Drill; exit 0 passed, 3 restored but
	not verified, 2 failed."""
	from erp_ops.cli import render
	from erp_ops.cli.drills import EXIT_FAILED, EXIT_NOT_VERIFIED, EXIT_OK
	from erp_ops.core.drills import DrillResult
	from erp_ops.site.drills import new_drill, run_restore_drill

	def call() -> dict:
		name = new_drill("Bench", "Administrator")
		frappe.db.commit()  # the drill's error path rolls back: the record must exist first
		try:
			run_restore_drill(name, backup_folder=backup_folder, triggered_by="Bench")
		except Exception:
			pass  # stored on the record with its reason; printed below
		return frappe.get_doc("Restore Drill", name).as_dict()

	doc = _with_site(context, None, call)
	result = DrillResult.model_validate_json(doc["result"]) if doc.get("result") else None
	if as_json:
		click.echo(
			doc["result"]
			if result
			else json.dumps({"name": doc["name"], "outcome": doc["outcome"], "reason": doc["reason"]})
		)
	else:
		click.echo(render.drill_text(result) if result else f"{doc['outcome'].upper()}: {doc['reason']}")
		click.echo(f"Stored as Restore Drill {doc['name']}")
	sys.exit({"Passed": EXIT_OK, "Not Verified": EXIT_NOT_VERIFIED}.get(doc["outcome"], EXIT_FAILED))


@ops.command("backup")
@click.option(
	"--without-files", is_flag=True, help="Database only (a drill then fails unless files are not required)."
)
@pass_context
def backup_command(context, without_files: bool = False) -> None:
	"""`bench backup` (with files) and this set's manifest at once, linked into the hash chain."""
	from erp_ops.cli import render
	from erp_ops.site.backups import take_backup

	click.echo(render.as_json(_with_site(context, None, lambda: take_backup(with_files=not without_files))))


@ops.group("jobs")
def jobs_group() -> None:
	"""Retry, requeue, cancel, quarantine, release, purge and bulk actions on background jobs."""


def _single_action(action: str, with_expected: bool = True):
	@click.argument("job_id")
	@click.option("--reason", required=True, help="Why (kept in the Ops Action Log).")
	@click.option("--request-id", help="Repeat-safe id: the same id acts once.")
	@click.option("--user", help="Act as this user (default Administrator); their roles apply.")
	@JSON_OPTION
	@pass_context
	def command(
		context, job_id: str, reason: str, request_id=None, user=None, expected=None, as_json=False
	) -> None:
		from erp_ops.api import jobs as api

		kwargs = {"job_id": job_id, "reason": reason, "request_id": request_id}
		if with_expected:
			kwargs["expected"] = expected
		_echo(context, _with_site(context, user, lambda: getattr(api, action)(**kwargs)), as_json)

	command.__doc__ = f"{action.title()} one job."
	if with_expected:
		command = click.option(
			"--expected", help="The state you saw (failed, queued, …): act only if it still is."
		)(command)
	return jobs_group.command(action)(command)


for _action in ("requeue", "retry", "cancel", "quarantine"):
	_single_action(_action)
_single_action("release", with_expected=False)


@jobs_group.command("state")
@click.argument("job_id")
@JSON_OPTION
@pass_context
def job_state_command(context, job_id: str, as_json: bool = False) -> None:
	"""Where a job is now."""
	from erp_ops.api import jobs as api

	_echo(context, _with_site(context, None, lambda: api.job_state(job_id=job_id)), as_json)


@jobs_group.command("purge")
@click.option("--reason", required=True)
@click.option("--older-than-days", type=float, help="Default: Ops Settings' purge retention.")
@click.option("--registry", "registries", multiple=True, type=click.Choice(["finished", "failed"]))
@click.option("--queue", "queues", multiple=True, help="Short queue name (default: all).")
@click.option("--execute", is_flag=True, help="Delete for real (default: dry run).")
@click.option(
	"--all-sites",
	is_flag=True,
	help="Bench-wide: every site's jobs in the bench's queues (logged in this site's Ops Action Log).",
)
@JSON_OPTION
@pass_context
def purge_command(
	context,
	reason: str,
	older_than_days=None,
	registries=(),
	queues=(),
	execute=False,
	all_sites=False,
	as_json=False,
) -> None:
	"""Delete this site's finished/failed jobs older than a retention (every site's with
	--all-sites); a dry run unless --execute."""
	from erp_ops.api import jobs as api

	def call() -> dict:
		# The bench CLI runs with the bench's own access (as Administrator); a site user's
		# endpoint never reaches the bench-wide form.
		scope = None if all_sites else frappe.local.site
		return api.purge_jobs(
			reason, older_than_days, list(registries) or None, list(queues) or None, not execute, None, scope
		)

	_echo(context, _with_site(context, None, call), as_json, bench_wide=all_sites)


@jobs_group.command("bulk")
@click.argument(
	"action", required=False, type=click.Choice(["requeue", "retry", "quarantine", "cancel", "release"])
)
@click.option("--reason", help="Why (required).")
@click.option("--queue", "queues", multiple=True)
@click.option("--method", "methods", multiple=True)
@click.option("--exc-type", "exc_types", multiple=True)
@click.option("--since", help="Site time, e.g. 2026-11-27 10:00")
@click.option("--until", help="Site time")
@click.option("--approve", "approve_token", metavar="TOKEN", help="Approve another user's token.")
@click.option("--execute", "execute_token", metavar="TOKEN", help="Act on a previewed token.")
@click.option("--user", help="Act as this user (default Administrator).")
@JSON_OPTION
@pass_context
def bulk_command(
	context,
	action=None,
	reason=None,
	queues=(),
	methods=(),
	exc_types=(),
	since=None,
	until=None,
	approve_token=None,
	execute_token=None,
	user=None,
	as_json=False,
) -> None:
	"""Preview a bulk action (dry run, prints a token), approve it (four eyes) or execute it."""
	from erp_ops.api import jobs as api

	if not reason:
		raise click.UsageError("--reason is required")
	if execute_token:
		call = lambda: api.bulk_execute(token=execute_token, reason=reason)  # noqa: E731
	elif approve_token:
		call = lambda: api.bulk_approve(token=approve_token, reason=reason)  # noqa: E731
	elif action:
		filters = {
			"queues": list(queues),
			"methods": list(methods),
			"exc_types": list(exc_types),
			"since": since,
			"until": until,
		}
		call = lambda: api.bulk_preview(action=action, reason=reason, filters=filters)  # noqa: E731
	else:
		raise click.UsageError("give an action to preview, or --approve TOKEN / --execute TOKEN")
	_echo(context, _with_site(context, user, call), as_json)


def _with_site(context, user: str | None, call):
	"""Run `call` on the site as `user`; core and permission errors exit 2 with their message."""
	site = get_site(context)
	frappe.init(site)
	frappe.connect()
	try:
		if user:
			frappe.set_user(user)
		result = call()
		frappe.db.commit()  # a bench command is not a request: nothing else commits what it did
		return result
	except frappe.ValidationError as e:
		status = getattr(e, "http_status_code", 417)
		click.secho(f"refused ({status}): {e}", fg="red", err=True)
		sys.exit(EXIT_CRITICAL)
	finally:
		frappe.destroy()


def _echo(context, response: dict, as_json: bool, bench_wide: bool = False) -> None:
	"""An action's answer as `erp-ops jobs` prints it (render.action_text), or as JSON."""
	from erp_ops.cli import render

	if as_json:
		click.echo(render.as_json(response))
		return
	site = get_site(context)
	scope = render.Scope(
		f"bench --site {site} ops jobs",
		"bench-wide (every site's jobs in the bench's queues)"
		if bench_wide
		else f"this site's jobs ({site})",
	)
	result = response.get("result", response)  # actions answer {log, result}; `state` answers the state
	click.echo(render.action_text(result, scope))
	if response.get("log"):
		click.echo(f"logged as Ops Action Log {response['log']}")


commands = [ops]
