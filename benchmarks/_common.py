"""Shared by the benchmarks: find Redis the way the tests do, say so when it is not configured."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
	sys.path.insert(0, str(ROOT))


def redis_url() -> str:
	url = os.environ.get("ERP_OPS_TEST_REDIS")
	if not url:
		sys.exit(
			"ERP_OPS_TEST_REDIS is not set: point it at a Redis database this benchmark may flush, "
			"e.g. ERP_OPS_TEST_REDIS=redis://127.0.0.1:6379/13"
		)
	return url
