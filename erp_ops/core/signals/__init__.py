"""Signals: one fast, read-only snapshot of a bench's queues, workers, scheduler, locks and host."""

from erp_ops.core.signals.snapshot import Thresholds, read, snapshot

__all__ = ["Thresholds", "read", "snapshot"]
