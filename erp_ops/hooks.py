app_name = "erp_ops"
app_title = "ERP Ops"
app_publisher = "erp_ops developers"
app_description = (
	"Operations control plane for ERPNext: signals, audited control, idempotent integrations, "
	"upgrade preflight, restore drills and runbooks"
)
app_email = "erp-ops@example.com"
app_license = "mit"

# Apps
# ------------------

# Frappe is implied; listing it here makes `bench install-app` try to install it again.
required_apps = []

# Desk
# ----
# One small plain file (no build): `erp_ops.allowed()`, the server's permissions for Desk's buttons.
app_include_js = "/assets/erp_ops/js/erp_ops.js"

# Each item is shown on the apps screen (/apps) to whoever `has_permission` lets in: the Ops
# Console. Frappe's apps screen takes a URL, not a Desk route: /desk/… is v16's own and v15
# redirects it to /app/… (frappe/hooks.py website_redirects), so one URL serves both.
add_to_apps_screen = [
	{
		"name": "erp_ops",
		"logo": "/assets/erp_ops/images/erp_ops.svg",
		"title": "ERP Ops",
		"route": "/desk/ops-console",
		"has_permission": "erp_ops.api.console.has_app_permission",
	}
]

# Installation
# ------------

# Rebuild Frappe's cached app-module map first: on a running bench it may predate `bench get-app`.
before_install = "erp_ops.site.install.before_install"
after_install = "erp_ops.site.install.after_install"

# Migration
# ---------

# The marker file tells a migrate that stopped with an error (`migrate.<site>.failed`): its
# after_migrate entry comes last, so it is written only when everything before it succeeded.
before_migrate = ["erp_ops.site.migrate.before_migrate"]
after_migrate = ["erp_ops.site.install.after_migrate", "erp_ops.site.migrate.after_migrate"]
# frappe.clear_cache() (bench clear-cache, and bench restore through install_app): the cached
# answers of integration events belong to the database that was there before.
clear_cache = ["erp_ops.site.events.clear_answer_cache"]

# Requests
# --------
# Frappe answers an unparsable JSON body before the ingest endpoint runs: give the endpoint's own
# answer (422, recorded) instead. Returns at once for every other request.
after_request = ["erp_ops.api.unparsed_body.after_request"]

# Fixtures
# --------
# Desk records whose DocType has no module to export them with (synced on every migrate).

fixtures = [
	# The workspace's runbook search box (issue 7).
	{"dt": "Custom HTML Block", "filters": [["name", "in", ["Runbook Search"]]]},
]

# Scheduled Tasks
# ---------------
# Scheduled Job Types are named after the last two dotted parts of the method: keep them distinct.

scheduler_events = {
	"cron": {
		# ONE erp_ops job per site and minute (erp_ops.tasks.tick): flush Job Evidence (the
		# worker only appends to a Redis stream) and apply the poison rule and retry policy to the
		# failures it stored, due retries, intents whose actor died, cancels, quarantine records,
		# alert rules over the cached snapshot, restore drills (lost ones settled, Ops Settings'
		# cron), and every 5 minutes integration events never picked up and the summary of denied
		# calls. The steps are tasks.TICK_STEPS; the bench-wide sweep runs once per bench and minute.
		"* * * * *": ["erp_ops.tasks.tick"],
	},
	"daily": ["erp_ops.tasks.verify_action_log", "erp_ops.tasks.mark_runbooks_for_review"],
	"daily_long": [
		"erp_ops.tasks.purge_job_evidence",
		# Restore drills: staleness alert, retention, manifest chain check.
		"erp_ops.tasks.restore_drill_daily",
		# Integration events past Ops Settings' retention (their keys may be used again).
		"erp_ops.tasks.purge_integration_events",
	],
	# Restore drills: v15 has no after-backup hook; manifests for new backup sets.
	"hourly_long": ["erp_ops.tasks.record_backup_manifests"],
}

# Handlers of integration events, event type → dotted path of an EventHandler (or a function).
# Other apps declare theirs the same way; site_config.json may add more (see README).
erp_ops_event_handlers = {}

# Job Evidence names the document a job worked on, as history: it must never stop anyone from
# deleting that document (a Sales Invoice, a Scheduled Job Type that a migrate retires).
ignore_links_on_delete = ["Job Evidence"]

# Figures for alert rules beyond the snapshot (drill age, drill failed, integration conflicts).
erp_ops_alert_facts = ["erp_ops.site.alert_facts.site_alert_facts"]

# Job Events
# ----------
# Frappe's `execute_job` calls these around every background job; they only touch Redis.

before_job = ["erp_ops.job_hooks.before_job"]
after_job = ["erp_ops.job_hooks.after_job"]

# Automatically update python controller files with type annotations for this app.
export_python_type_annotations = True
