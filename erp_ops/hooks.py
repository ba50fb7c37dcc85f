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
		# Evidence waits in a Redis stream on the workers' hot path; move it to the database
		# every minute so lists stay fresh and the stream stays short.
		# The flush also applies the poison rule and retry policy to the failures it stored:
		# evaluating them in the worker's after_job would load pydantic into every work horse.
		"* * * * *": [
			"erp_ops.tasks.flush_job_evidence",
			"erp_ops.tasks.run_due_retries",
			# Intents whose actor died (a killed request or worker): completed as "unknown".
			"erp_ops.tasks.sweep_action_intents",
			"erp_ops.tasks.finish_stopped_cancels",
			"erp_ops.tasks.sync_quarantine_records",
			# Alert rules over the snapshot the workspace reads (cached): no extra heavy reads.
			"erp_ops.tasks.evaluate_alerts",
		],
		# Integration events: re-enqueue events never picked up or whose worker died (docs/events.md).
		"*/5 * * * *": ["erp_ops.tasks.recover_integration_events"],
	},
	"daily": ["erp_ops.tasks.verify_action_log", "erp_ops.tasks.mark_runbooks_for_review"],
	"daily_long": [
		"erp_ops.tasks.purge_job_evidence",
		# Restore drills: staleness alert, retention, manifest chain check.
		"erp_ops.tasks.restore_drill_daily",
		# Integration events past Ops Settings' retention (their keys may be used again).
		"erp_ops.tasks.purge_integration_events",
	],
	# Restore drills: the cron lives in Ops Settings, so every tick asks whether a drill is due.
	"all": ["erp_ops.tasks.maybe_start_restore_drill"],
	# Restore drills: v15 has no after-backup hook; manifests for new backup sets.
	"hourly_long": ["erp_ops.tasks.record_backup_manifests"],
}

# Handlers of integration events, event type → dotted path of an EventHandler (or a function).
# Other apps declare theirs the same way; site_config.json may add more (see README).
erp_ops_event_handlers = {}

# Figures for alert rules beyond the snapshot (drill age, drill failed, integration conflicts).
erp_ops_alert_facts = ["erp_ops.site.alert_facts.site_alert_facts"]

# Job Events
# ----------
# Frappe's `execute_job` calls these around every background job; they only touch Redis.

before_job = ["erp_ops.job_hooks.before_job"]
after_job = ["erp_ops.job_hooks.after_job"]

# Automatically update python controller files with type annotations for this app.
export_python_type_annotations = True
