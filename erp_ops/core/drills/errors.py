"""Errors of the drills package, each a subclass of the core family (and its HTTP status)."""

from erp_ops.core.errors import Conflict, ErpOpsError, InvalidInput, ServiceUnavailable


class DrillError(ErpOpsError):
	"""Base of the errors a drill raises on purpose."""


class UnsafeScratchTarget(DrillError, InvalidInput):
	"""The restore target is not a scratch database: wrong prefix, or a site's own database."""


class BackupNotFound(DrillError, InvalidInput):
	"""No backup set (database dump) where the caller pointed."""


class BadManifest(DrillError, InvalidInput):
	"""A manifest file exists but cannot be read as one."""


class ClientMissing(DrillError, ServiceUnavailable):
	"""The `mariadb`/`mysql` client (or `gpg` for an encrypted backup) is not installed."""


class DatabaseUnavailable(DrillError, ServiceUnavailable):
	"""The MariaDB server did not answer or refused a statement the drill needs."""


class DrillInterrupted(DrillError, ServiceUnavailable):
	"""SIGTERM/SIGINT arrived during a drill; raised so that cleanup runs before the process exits."""


class StreamError(DrillError, InvalidInput):
	"""A backup file could not be read to its end: truncated, corrupted, or not decryptable."""

	def __init__(self, code: str, reason: str, details: dict | None = None):
		super().__init__(reason)
		self.code = code
		self.reason = reason
		self.details = details or {}


class DrillAlreadyRunning(DrillError, Conflict):
	"""Another drill of the same site (or, for the host lock, on the same host) runs; this one did not start."""
