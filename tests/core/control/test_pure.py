"""Redaction, poison detection, retry policy and the action-log hash chain."""

import random
from datetime import datetime, timedelta, timezone

from erp_ops.core.control import chain, poison, policy
from erp_ops.core.control.models import RetryDecisionKind, RetryRule
from erp_ops.core.control.redaction import MASK, redact
from erp_ops.core.evidence.capture import Outcome, kwargs_digest
from erp_ops.core.evidence.records import EvidenceRecord

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def test_redaction_masks_secrets_at_any_depth_and_keeps_the_rest():
	payload = {
		"site": "site1.local",
		"kwargs": {
			"Password": "hunter2",
			"api_key": "k",
			"apiKey": "k",
			"x-api-key": "k",
			"auth_token": "t",
			"client_secret": "s",
			"headers": [{"Authorization": "Bearer abcdefghijkl"}, {"note": "token abcdefghijkl"}],
			"author": "Ada",
			"empty_password": "",
			"doctype": "Sales Invoice",
		},
	}
	out = redact(payload)
	k = out["kwargs"]
	assert [k[f] for f in ("Password", "api_key", "apiKey", "x-api-key", "auth_token", "client_secret")] == [
		MASK
	] * 6
	assert k["headers"][0]["Authorization"] == MASK and k["headers"][1]["note"] == f"token {MASK}"
	assert (k["author"], k["empty_password"], k["doctype"], out["site"]) == (
		"Ada",
		"",
		"Sales Invoice",
		"site1.local",
	)
	assert payload["kwargs"]["Password"] == "hunter2"  # a copy: the raw payload is untouched
	assert redact({"iban": "DE00"}, extra=["iban"]) == {"iban": MASK}


def record(
	job_id: str, minutes_ago: float, outcome=Outcome.FAILED, method="app.sync", kwargs=None, attempt=1
):
	return EvidenceRecord(
		job_id=job_id,
		attempt=attempt,
		method=method,
		outcome=outcome,
		ended_at=NOW - timedelta(minutes=minutes_ago),
		kwargs_digest=kwargs_digest(kwargs if kwargs is not None else {"name": "SINV-1"}),
	)


def test_poison_is_n_failures_of_one_method_and_arguments_within_the_window():
	records = [
		record("a", 50),
		record("b", 30, outcome=Outcome.TIMED_OUT),
		record("c", 1, outcome=Outcome.ABANDONED),
		record("c", 1, outcome=Outcome.ABANDONED),  # the same record delivered twice counts once
		record("d", 70),  # outside the hour
		record("e", 5, outcome=Outcome.SUCCESS),
		record("f", 5, kwargs={"name": "SINV-2"}),
		record("g", 5, method="app.other"),
	]
	(verdict,) = poison.find_poison(records, now=NOW)
	assert (verdict.method, verdict.failures, verdict.job_ids) == ("app.sync", 3, ["a", "b", "c"])
	assert verdict.kwargs_digest == kwargs_digest({"name": "SINV-1"})
	assert (verdict.first_at, verdict.last_at) == (NOW - timedelta(minutes=50), NOW - timedelta(minutes=1))
	assert poison.find_poison(records, now=NOW, threshold=4) == []
	assert len(poison.find_poison(records, now=NOW, window=timedelta(hours=2), threshold=4)) == 1


def test_poison_counter_in_redis_counts_a_sliding_window(redis_conn):
	digest = kwargs_digest({"name": "SINV-1"})
	t0 = 1_800_000_000.0
	counts = [
		poison.record_failure(redis_conn, "b", "app.sync", digest, f"job-{i}#1", now=t0 + i * 1300)
		for i in range(4)
	]
	assert counts == [1, 2, 3, 3]  # the first failure left the hour when the fourth came
	assert (
		poison.record_failure(redis_conn, "b", "app.sync", digest, "job-3#1", now=t0 + 3900) == 3
	)  # redelivered: same member
	assert poison.is_poison(3) and not poison.is_poison(2)
	assert 0 < redis_conn.ttl(f"erp_ops:b:poison:app.sync|{digest}") <= 3600


def test_retry_policy_first_matching_rule_backoff_with_jitter_then_quarantine():
	rules = [
		RetryRule(
			method="erpnext.accounts.*", exc_type="QueryDeadlockError", max_attempts=5, base_delay_s=10
		),
		RetryRule(exc_type="TimeoutError", max_attempts=2, quarantine_after=False),
		RetryRule(method="app.sync", max_attempts=3, base_delay_s=30, factor=2, max_delay_s=100, jitter=0.0),
	]
	deadlock = "frappe.exceptions.QueryDeadlockError"
	assert policy.rule_for(rules, "erpnext.accounts.gl.post", deadlock) is rules[0]
	assert policy.rule_for(rules, "erpnext.stock.post", deadlock) is None
	assert policy.rule_for(rules, "x", "builtins.TimeoutError") is rules[1]
	assert [policy.decide(rules, "app.sync", "ValueError", a).delay_s for a in (1, 2)] == [30.0, 60.0]
	assert policy.backoff(rules[2], 3) == 100.0  # capped
	last = policy.decide(rules, "app.sync", "ValueError", 3)
	assert (last.decision, last.rule) == (RetryDecisionKind.QUARANTINE, rules[2])
	assert policy.decide(rules, "x", "TimeoutError", 2).decision is RetryDecisionKind.NONE
	assert policy.decide(rules, "x", "KeyError", 1).decision is RetryDecisionKind.NONE
	rng = random.Random(7)
	delays = [policy.decide(rules, "erpnext.accounts.gl.post", deadlock, 3, rng).delay_s for _ in range(200)]
	assert all(20.0 <= d <= 40.0 for d in delays) and len(set(delays)) > 100  # spread, within bounds


def test_hash_chain_detects_edit_removal_and_reorder():
	rows = chain.chain(
		[
			{"name": f"LOG-{i}", "action": "requeue", "target": f"job-{i}", "at": NOW + timedelta(seconds=i)}
			for i in range(5)
		]
	)
	assert chain.verify_chain(rows).ok and chain.verify_chain(rows).checked == 5
	assert rows[1]["previous_hash"] == rows[0]["row_hash"]

	edited = [dict(r) for r in rows]
	edited[2]["target"] = "job-x"
	v = chain.verify_chain(edited)
	assert (v.ok, v.first_broken, v.first_broken_name) == (False, 2, "LOG-2") and "edited" in v.reason
	v = chain.verify_chain(rows[:2] + rows[3:])
	assert (v.first_broken, v.first_broken_name) == (2, "LOG-3") and "removed" in v.reason
	v = chain.verify_chain([rows[1], rows[0], *rows[2:]])
	assert v.first_broken == 0
	# Rehashing an edited row alone does not help: the next row's link breaks.
	forged = [dict(r) for r in rows]
	forged[2] = chain.chain([{k: v for k, v in edited[2].items() if "hash" not in k}], rows[1]["row_hash"])[0]
	assert chain.verify_chain(forged).first_broken == 3
	# A verified prefix lets the check continue from a stored hash.
	assert chain.verify_chain(rows[3:], previous_hash=rows[2]["row_hash"]).ok
	assert chain.canonical_row({"b": 1, "a": NOW}) == '{"a":"2026-11-27T12:00:00+00:00","b":1}'


def test_concurrent_writers_keep_one_unbroken_chain_in_mariadb(mariadb_db):
	"""Four writers append at once through the head-row lock: one chain, no fork; an edit shows."""
	import threading

	from erp_ops.core.control.models import Action, ActionLogEntry, ActionOutcome
	from tests.support.action_log_mariadb import MariaDBChainStore

	kwargs, _name = mariadb_db
	MariaDBChainStore(kwargs).close()  # create the tables once

	def writer(w: int) -> None:
		store = MariaDBChainStore(kwargs)
		for i in range(15):
			entry = ActionLogEntry(
				name=f"LOG-{w}-{i}",
				at=NOW + timedelta(seconds=i),
				user=f"ops{w}@example.com",
				action=Action.REQUEUE,
				targets=[f"site1.local::{w}-{i}"],
				reason="lock released",
				state_before="failed",
				state_after="queued",
				outcome=ActionOutcome.DONE,
			)
			chain.append(store, entry)
		store.close()

	threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(60)
	store = MariaDBChainStore(kwargs)
	rows = store.rows()
	assert len(rows) == 60 and chain.verify_chain(rows).ok
	with store.conn.cursor() as cur:  # a System Manager edits a row behind the app's back
		cur.execute(
			"UPDATE ops_action_log SET body = REPLACE(body, 'lock released', 'nothing') WHERE seq = 30"
		)
	v = chain.verify_chain(store.rows())
	assert (v.ok, v.first_broken) == (False, 29)
	store.close()


def test_payloads_whose_code_is_not_importable_still_decode():
	import pickle
	import zlib

	from erp_ops.core.control.payload import MissingGlobal, decode_data, jsonable

	# A pickle that names a function in an app this interpreter does not have.
	ref = pickle.dumps(("frappe.utils.background_jobs.execute_job", None, (), {"method": len, "n": 1}))
	ref = ref.replace(b"builtins", b"erpnextx").replace(b"\x8c\x03len", b"\x8c\x03fun")
	function, args, kwargs = decode_data(zlib.compress(ref))
	assert function == "frappe.utils.background_jobs.execute_job" and args == []
	assert isinstance(kwargs["method"], MissingGlobal) and kwargs["method"] == "erpnextx.fun"
	assert jsonable(kwargs) == {"method": "erpnextx.fun", "n": 1}
