# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt
"""The action log's tail and its intents in a real site (issue 19.5, 19.9, 20.6).

The site's log is append-only evidence: the tampering below happens inside a transaction that is
rolled back before the test ends, so nothing of it is ever committed.
"""

import json
import uuid
from datetime import timedelta

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import get_bench_id
from frappe.utils.background_jobs import get_redis_conn

from erp_ops.api import jobs as api
from erp_ops.api.test_jobs import OPERATOR, ROLES, enqueue_failing, wait_for_state
from erp_ops.api.test_signals import ensure_user
from erp_ops.core.control import chain
from erp_ops.core.control import jobs as core_jobs
from erp_ops.core.control.models import Action, ActionOutcome, JobState
from erp_ops.site import audit
from erp_ops.site import control as site_control


def committed_rows(count: int) -> list[str]:
	"""Append and commit `count` rows, so their heads are anchored (after commit, in the file)."""
	names = [
		audit.append_entry(
			audit.new_entry(
				Action.REVIEW, [f"test-{uuid.uuid4().hex[:8]}"], "anchor test", ActionOutcome.DONE
			)
		)
		for _ in range(count)
	]
	frappe.db.commit()
	return names


def tail(n: int) -> list[dict]:
	return frappe.db.sql(
		"""select name, seq, entry_json, previous_hash, row_hash from `tabOps Action Log`
		order by seq desc limit %s for update""",
		n,
		as_dict=True,
	)[::-1]


def store_rewritten(rows: list[dict], previous: str) -> None:
	"""What a forger with database access does: store the rows with every hash recomputed, and the
	head with them, so the chain and its head agree again."""
	bodies = [json.loads(r.entry_json) for r in rows]
	for row, linked in zip(rows, chain.chain(bodies, previous), strict=True):
		body = {k: v for k, v in linked.items() if "hash" not in k}
		frappe.db.sql(
			"""update `tabOps Action Log` set entry_json = %s, reason = %s, previous_hash = %s,
			row_hash = %s where name = %s""",
			(
				json.dumps(body, sort_keys=True),
				body["reason"],
				linked["previous_hash"],
				linked["row_hash"],
				row.name,
			),
		)
		head = linked["row_hash"]
	frappe.db.sql("update `tabOps Chain Head` set head = %s where name = %s", (head, audit.ACTION_LOG))


class TestChainAnchors(FrappeTestCase):
	def tearDown(self):
		frappe.db.rollback()  # the tampering is never committed

	def test_the_log_verifies_against_its_newest_anchor(self):
		names = committed_rows(2)
		verdict = audit.verify_log()
		self.assertTrue(verdict.ok, verdict.reason)
		newest = chain.newest_anchor(audit.log_anchors())
		last = frappe.db.get_value("Ops Action Log", names[-1], ["seq", "row_hash"], as_dict=True)
		self.assertEqual((newest.seq, newest.head), (last.seq, last.row_hash))
		self.assertIn(f"row {last.seq}", verdict.anchor)

	def test_a_dropped_last_row_is_detected(self):
		committed_rows(2)
		rows = tail(2)
		frappe.db.sql("delete from `tabOps Action Log` where name = %s", rows[-1].name)
		frappe.db.sql(  # the head set back too: the chain and its head agree, only the anchor knows
			"update `tabOps Chain Head` set head = %s, seq = %s where name = %s",
			(rows[0].row_hash, rows[0].seq, audit.ACTION_LOG),
		)
		self.assertTrue(audit.verify_log(with_anchors=False).ok, "the chain alone cannot see it")
		verdict = audit.verify_log()
		self.assertFalse(verdict.ok)
		self.assertIn("rows were removed from its end", verdict.reason)

	def test_a_chain_rewritten_with_recomputed_hashes_is_detected(self):
		committed_rows(3)
		rows = tail(4)
		forged = json.loads(rows[1].entry_json)
		forged["reason"] = "nothing happened here"
		rows[1].entry_json = json.dumps(forged)
		store_rewritten(rows[1:], rows[0].row_hash)
		self.assertTrue(audit.verify_log(with_anchors=False).ok, "the chain alone cannot see it")
		verdict = audit.verify_log()
		self.assertFalse(verdict.ok)
		self.assertIn("recomputed", verdict.reason)

	def test_a_chain_recomputed_from_its_first_row_is_detected(self):
		committed_rows(1)
		count = frappe.db.count("Ops Action Log")
		if count > 20000:
			self.skipTest(f"{count} rows: too many to rewrite in one test transaction")
		rows = tail(count)
		first = json.loads(rows[0].entry_json)
		first["reason"] = "another history"
		rows[0].entry_json = json.dumps(first)
		store_rewritten(rows, chain.GENESIS)
		self.assertTrue(audit.verify_log(with_anchors=False).ok, "the chain alone cannot see it")
		verdict = audit.verify_log()
		self.assertFalse(verdict.ok)
		self.assertIn("from its start", verdict.reason)

	def test_the_head_lives_in_the_apps_own_table(self):
		audit.ensure_chain_head()  # as every migrate does: an earlier version's raw row goes
		self.assertFalse(
			frappe.db.sql("select 1 from tabSingles where doctype = 'Ops Action Log'"),
			"no raw tabSingles row under the non-Single log DocType",
		)
		head = frappe.get_doc(audit.HEADS, audit.ACTION_LOG)
		self.assertTrue(head.genesis_reason and head.genesis_at)
		last = frappe.db.sql("select seq, row_hash from `tabOps Action Log` order by seq desc limit 1")[0]
		self.assertEqual((head.seq, head.head), tuple(last))
		head.head = "forged"
		self.assertRaises(frappe.PermissionError, head.save, ignore_permissions=True)


class TestIntents(FrappeTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		ensure_user(OPERATOR, ROLES[OPERATOR])
		frappe.db.commit()

	def tearDown(self):
		frappe.set_user("Administrator")

	def test_an_action_writes_its_intent_first_and_completes_it(self):
		job_id = enqueue_failing()
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		frappe.set_user(OPERATOR)
		done = api.requeue(job_id=job_id, reason="intent test", expected="failed")
		frappe.set_user("Administrator")
		rows = frappe.get_all(
			"Ops Action Log",
			filters={"targets": job_id},
			fields=["name", "seq", "outcome", "completes", "user", "reason"],
			order_by="seq asc",
		)
		self.assertEqual([r.outcome for r in rows], ["started", "done"])
		intent, completion = rows
		self.assertEqual((intent.user, intent.reason), (OPERATOR, "intent test"))
		self.assertEqual((completion.name, completion.completes), (done["log"], intent.name))

	def test_the_sweep_completes_an_intent_whose_actor_died(self):
		job_id = enqueue_failing()
		self.assertEqual(wait_for_state(job_id, JobState.FAILED), JobState.FAILED)
		# The actor wrote its intent, moved the job in Redis, and was killed before its log row.
		intent = audit.start_intent(Action.REQUEUE, [job_id], "killed mid-way", user=OPERATOR)
		core_jobs.requeue(get_redis_conn(), get_bench_id(), job_id, expected=JobState.FAILED)
		# Too young to be swept (older intents of other runs on this site may be, rightly).
		audit.sweep_intents(lambda t: "x", older_than=timedelta(minutes=5))
		self.assertEqual(frappe.db.count("Ops Action Log", {"completes": intent}), 0)
		written = site_control.sweep_intents(
			lambda t: core_jobs.job_state(get_redis_conn(), get_bench_id(), t).value,
			older_than=timedelta(0),
		)
		row = frappe.get_all(
			"Ops Action Log",
			filters={"completes": intent},
			fields=["name", "outcome", "user", "state_after", "action"],
		)
		self.assertEqual(len(row), 1)
		self.assertIn(row[0].name, written)
		self.assertEqual((row[0].outcome, row[0].user, row[0].action), ("unknown", OPERATOR, "requeue"))
		actual = core_jobs.job_state(get_redis_conn(), get_bench_id(), job_id).value
		self.assertIn(actual, ("queued", "started", "failed"))  # the worker may have run it again
		self.assertTrue(row[0].state_after.startswith(f"{job_id}: "))
		# A second sweep does not complete it again.
		site_control.sweep_intents(lambda t: "again", older_than=timedelta(0))
		self.assertEqual(frappe.db.count("Ops Action Log", {"completes": intent}), 1)
		self.assertTrue(audit.verify_log().ok)
