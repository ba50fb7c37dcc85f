"""Disk headroom of the bench, sites and backup paths; load and memory of this host."""

import os
import socket

import psutil

from erp_ops.core.signals.models import DiskUsage, HostInfo


def read_host(paths: dict[str, str]) -> HostInfo:
	"""`paths` maps a label (bench, sites, backups) to a path; missing paths are skipped."""
	disks = []
	for label, path in paths.items():
		if not path or not os.path.exists(path):
			continue
		usage = psutil.disk_usage(path)
		disks.append(
			DiskUsage(
				label=label,
				path=str(path),
				total_bytes=usage.total,
				free_bytes=usage.free,
				free_pct=round(100.0 * usage.free / usage.total, 2) if usage.total else 0.0,
			)
		)
	try:
		load = os.getloadavg()
	except OSError:
		load = (None, None, None)
	memory = psutil.virtual_memory()
	return HostInfo(
		hostname=socket.gethostname(),
		cpu_count=psutil.cpu_count(),
		load_1m=load[0],
		load_5m=load[1],
		load_15m=load[2],
		memory_total_bytes=memory.total,
		memory_available_bytes=memory.available,
		memory_used_pct=memory.percent,
		disks=disks,
	)
