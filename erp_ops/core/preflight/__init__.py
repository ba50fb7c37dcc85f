"""Upgrade preflight: read-only facts, rule-driven code scan, pin check, risk score and plans.

`run_preflight(bench_path, target, ...)` is the one entry point; the Frappe layer passes what only
a site can know as `SiteFacts` and stores the returned `PreflightReport`.
"""

from erp_ops.core.preflight.engine import run_preflight
from erp_ops.core.preflight.models import (
	BackupInfo,
	Customization,
	Finding,
	PendingPatch,
	PreflightReport,
	Severity,
	SiteFacts,
	SiteScript,
	Verdict,
)
from erp_ops.core.preflight.render import to_json, to_markdown, to_text
from erp_ops.core.preflight.site import parse_patches_txt, pending_patches

__all__ = [
	"BackupInfo",
	"Customization",
	"Finding",
	"PendingPatch",
	"PreflightReport",
	"Severity",
	"SiteFacts",
	"SiteScript",
	"Verdict",
	"parse_patches_txt",
	"pending_patches",
	"run_preflight",
	"to_json",
	"to_markdown",
	"to_text",
]
