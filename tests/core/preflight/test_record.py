"""The report as DocType rows, stored in and read back from MariaDB tables with Frappe's column types."""

import json

from erp_ops.core.preflight import run_preflight
from erp_ops.core.preflight.models import Evidence, Finding, Phase, Severity
from erp_ops.core.preflight.record import DATA_LENGTH, to_record
from tests.support.mariadb_preflight_store import create_tables, load, save
from tests.support.preflight_bench import make_bench


def test_a_report_round_trips_through_the_doctype_tables(mariadb_db, tmp_path):
	kwargs, _ = mariadb_db
	create_tables(kwargs)
	report = run_preflight(make_bench(tmp_path), 16)
	record = to_record(report)
	name = save(kwargs, record)
	doc, rows = load(kwargs, name)
	assert (doc["verdict"], doc["risk_score"], doc["blockers"]) == (
		"do_not_proceed",
		100,
		report.risk.counts["blocker"],
	)
	assert doc["summary_md"].startswith("# Upgrade preflight: DO NOT PROCEED")
	assert json.loads(doc["report_json"])["verdict"] == "do_not_proceed"
	assert len(rows) == len(report.findings)
	assert rows[0]["severity"] == "blocker"  # blockers first, as the Desk form lists them
	seeded = {(r["check_id"], r["file"], r["line"]) for r in rows if r["line"]}
	assert seeded == {(f.check, f.evidence.file, f.evidence.line) for f in report.findings if f.evidence.line}


def test_long_values_are_cut_to_fit_in_strict_mode(mariadb_db, tmp_path):
	kwargs, _ = mariadb_db
	create_tables(kwargs)
	report = run_preflight(make_bench(tmp_path), 16)
	huge = Finding(
		check="x" * 300,
		severity=Severity.WARNING,
		title="é" * 70_000,
		app="a" * 200,
		evidence=Evidence(file="f" * 500, line=1, text="t" * 100_000),
		fix="fix",
		phase=Phase.CODE,
	)
	record = to_record(report.model_copy(update={"findings": [huge]}))
	row = record.findings[0]
	assert len(row.check_id) == DATA_LENGTH and len(row.app) == DATA_LENGTH
	_, rows = load(kwargs, save(kwargs, record))  # strict mode: an over-long value would raise here
	assert rows[0]["check_id"] == row.check_id and len(rows[0]["title"].encode()) <= 65_535
