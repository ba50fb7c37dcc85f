"""Job methods for the alert tests (run through `frappe_like.execute_job` by real workers)."""

import os
import time


def hang_and_tell(seconds: float = 30, marker: str = "", **_ignored):
	"""Writes the work horse's pid to `marker`, then sleeps: a test can kill the horse it orphans."""
	with open(marker + ".tmp", "w") as f:
		f.write(str(os.getpid()))
	os.replace(marker + ".tmp", marker)  # the test sees the file only once it holds the pid
	time.sleep(seconds)
