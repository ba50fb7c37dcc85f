"""The suite on a shared server: a failing test's workers stop with it; names are this run's own."""

import os
import subprocess
import sys

import psutil

from tests.conftest import scratch_database_name
from tests.support.rq_helpers import ROOT

FAILING_TEST = """
from tests.support.rq_helpers import WorkerProcess, wait_for


def test_fails_with_a_worker_running(redis_conn, redis_url, tmp_path):
	worker = WorkerProcess(redis_url, ["bench-shared:default"])
	wait_for(lambda: redis_conn.smembers("rq:workers"), what="the worker to register")
	open(os.environ["PID_FILE"], "w").write(str(worker.pid))
	assert False, "fails before its own cleanup"


def test_runs_next_in_the_same_session():
	import psutil

	pid = int(open(os.environ["PID_FILE"]).read())
	alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
	open(os.environ["PID_FILE"] + ".next", "w").write("alive" if alive else "stopped")
"""


def test_a_failing_tests_worker_is_stopped_with_it(redis_url, tmp_path):
	test_file = tmp_path / "test_inner.py"
	test_file.write_text("import os\n" + FAILING_TEST)
	pid_file = tmp_path / "pid"
	result = subprocess.run(
		[
			sys.executable,
			"-m",
			"pytest",
			"-q",
			"-p",
			"no:cacheprovider",
			"-p",
			"tests.conftest",
			str(test_file),
		],
		cwd=ROOT,
		env={**os.environ, "PYTHONPATH": str(ROOT), "PID_FILE": str(pid_file)},
		capture_output=True,
		text=True,
		timeout=120,
	)
	assert result.returncode == 1 and "fails before its own cleanup" in result.stdout, result.stdout
	# Seen from the next test of the same session: stopped by the fixture, not at interpreter exit.
	assert (tmp_path / "pid.next").read_text() == "stopped"
	pid = int(pid_file.read_text())
	assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_scratch_databases_carry_the_runs_prefix(monkeypatch):
	monkeypatch.setenv("ERP_OPS_TEST_DB_PREFIX", "erp_ops_test_abcd1234_")
	name = scratch_database_name()
	assert name.startswith("erp_ops_test_abcd1234_") and len(name) == len("erp_ops_test_abcd1234_") + 12
	monkeypatch.delenv("ERP_OPS_TEST_DB_PREFIX")
	assert scratch_database_name().startswith("erp_ops_test_")
