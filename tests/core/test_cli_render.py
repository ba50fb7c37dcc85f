"""cli/render: the one set of text views `erp-ops` and `bench ops` both print."""

from erp_ops.cli import render
from erp_ops.core.signals.models import SchedulerStatus, SiteScheduler
from tests.core.test_prometheus import sample_snapshot


def test_status_text_has_the_queue_table_the_schedulers_and_the_backlog():
	snap = sample_snapshot().model_copy(
		update={
			"schedulers": [
				SiteScheduler(
					site="one.localhost", status=SchedulerStatus.INACTIVE, reason="paused in System Settings"
				)
			],
			"evidence_backlog": 17,
		}
	)
	lines = render.status_text(snap).splitlines()
	header = next(line for line in lines if line.startswith("queue "))
	assert header.split()[:5] == ["queue", "queued", "running", "abandoned", "failed"]
	default = next(line for line in lines if line.startswith("default "))
	assert default.split()[1:5] == ["3", "1", "2", "2"]  # queued, running, abandoned, failed as built
	assert "scheduler one.localhost: inactive (paused in System Settings)" in lines
	assert "evidence backlog: 17 record(s) not yet flushed" in lines


def test_action_text_points_at_the_command_that_continues_it():
	preview = {"token": "tok-1", "state": "pending approval", "matched": 600, "action": "requeue"}
	text = render.action_text(
		preview, render.Scope("bench --site a.localhost ops jobs", "this site's jobs (a.localhost)")
	)
	assert "matched: 600" in text.splitlines()
	assert "run `bench --site a.localhost ops jobs bulk --execute tok-1`" in text
	assert "approve it with --approve TOKEN" in text
	assert text.splitlines()[-1] == "scope: this site's jobs (a.localhost)"
	purge = render.action_text(
		{"dry_run": True, "matched": 0, "deleted": []}, render.Scope("erp-ops jobs", None)
	)
	assert purge.splitlines() == [
		"dry_run: True",
		"matched: 0",
		"dry run: nothing deleted; add --execute to delete",
	]
