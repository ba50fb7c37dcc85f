"""The preflight run on this very repository, as an app in a bench next to a legacy custom app.

erp_ops must come out with no blocker and no high finding (its fixtures, tests and benchmarks seed
bad code on purpose; its compatibility code is version-guarded), while the legacy app in the same
bench is still caught, and erp_ops's own real leftovers (FrappeTestCase, deprecated in v16) are reported.
"""

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from erp_ops.core.preflight import Verdict, run_preflight
from erp_ops.core.preflight.models import RuntimeVersions
from tests.support.preflight_bench import SEEDED_CODE, git, line_of, make_bench

ROOT = Path(__file__).resolve().parents[3]


def _copy_this_repository(dest: Path) -> None:
	"""Tracked and untracked-but-not-ignored files of the working tree, as a committed git checkout."""
	listed = subprocess.run(
		["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
		capture_output=True,
		check=True,
	).stdout.decode()
	for rel in filter(None, listed.split("\0")):
		src = ROOT / rel
		if src.is_file():
			(dest / rel).parent.mkdir(parents=True, exist_ok=True)
			shutil.copy2(src, dest / rel)
	git(dest, "init", "-q", "-b", "main")
	git(dest, "remote", "add", "upstream", "https://example.com/acme/erp_ops.git")
	git(dest, "add", "-A")
	git(dest, "commit", "-q", "-m", "erp_ops as it is")


def test_erp_ops_has_no_blocker_and_no_high_while_a_legacy_app_is_caught(tmp_path):
	bench = make_bench(tmp_path, dirty=False)
	_copy_this_repository(bench / "apps" / "erp_ops")
	(bench / "sites" / "apps.txt").write_text("frappe\nerp_ops\ncustom_app\nclean_app\n")
	backups = bench / "sites" / "site1.local" / "private" / "backups"
	backups.mkdir(parents=True)
	(backups / "20261207_000000-site1_local-database.sql.gz").write_bytes(b"\x1f\x8b" + b"0" * 100)
	report = run_preflight(
		bench,
		16,
		db_size_bytes=1024,
		runtimes=RuntimeVersions(python="3.14.2", node="24.11.0"),
		now=datetime.now(timezone.utc),
	)
	ours = [f for f in report.findings if f.app == "erp_ops"]
	serious = [(f.check, f.evidence.file, f.evidence.line) for f in ours if f.severity.rank >= 2]
	assert serious == []
	assert report.scan.test_files > 50  # erp_ops's tests and benchmarks: test APIs only
	# erp_ops's own real leftovers are still reported, in its test code
	test_case = [f for f in ours if f.check == "v16-frappe-test-case-deprecated"]
	assert test_case and all("test" in f.evidence.file for f in test_case)
	# and the legacy app in the same bench is caught, every seeded problem at its line
	located = {(f.check, f.evidence.file, f.evidence.line) for f in report.findings}
	expected = {(check, rel, line_of(bench, rel, marker)) for check, rel, marker in SEEDED_CODE}
	assert expected <= located, sorted(expected - located)

	alone = run_preflight(
		bench,
		16,
		db_size_bytes=1024,
		scan_apps=["erp_ops"],
		runtimes=RuntimeVersions(python="3.14.2", node="24.11.0"),
	)
	assert alone.verdict is Verdict.PROCEED, [
		(f.check, f.evidence.file) for f in alone.findings if f.severity.rank >= 2
	]
	assert alone.risk.band.value == "low"
