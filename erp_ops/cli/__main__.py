"""`python -m erp_ops.cli`: the same as the `erp-ops` command."""

import sys

from erp_ops.cli import main

sys.exit(main())
