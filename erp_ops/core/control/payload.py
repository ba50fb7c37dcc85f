"""Read a job's stored payload without trusting that its code is importable here.

RQ pickles (function name, instance, args, kwargs) and the meta dict. A standalone `erp-ops`
has none of the bench's apps on its path, so globals that do not import are kept as their dotted
names instead of failing the whole read.
"""

import hashlib
import io
import pickle
import zlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from redis import Redis
from rq.results import Result

from erp_ops.core.control.models import JobPayload, UnreadableField
from erp_ops.core.rq_keys import as_text, parse_rq_time, split_frappe_job_id

EXECUTE_JOB_SUFFIX = ".execute_job"  # Frappe wraps every job in background_jobs.execute_job


class MissingGlobal(str):
	"""A pickled reference to something this interpreter cannot import: its dotted name."""

	def __call__(self, *args: Any, **kwargs: Any) -> dict:
		return {"__missing__": str(self), "args": list(args), "kwargs": kwargs}


class _Unpickler(pickle.Unpickler):
	def find_class(self, module: str, name: str) -> Any:
		try:
			return super().find_class(module, name)
		except (ImportError, AttributeError):
			return MissingGlobal(f"{module}.{name}")


def safe_loads(data: bytes) -> Any:
	return _Unpickler(io.BytesIO(data)).load()


def decode_data(raw: bytes | None) -> tuple[str | None, list, dict]:
	"""(function name, args, kwargs) of RQ's `data` field."""
	if not raw:
		return None, [], {}
	try:
		data = zlib.decompress(raw)
	except zlib.error:
		data = raw
	func_name, _instance, args, kwargs = safe_loads(data)
	return as_text(func_name) if func_name is not None else None, list(args or ()), dict(kwargs or {})


def decode_meta(raw: bytes | None) -> dict:
	"""RQ's `meta` field, or {} when it does not decode."""
	try:
		return strict_meta(raw)
	except Exception:
		return {}


def frappe_method(function: str | None, kwargs: dict) -> str | None:
	"""The method a Frappe job runs: execute_job's `method` kwarg, else the function itself."""
	if function and function.endswith(EXECUTE_JOB_SUFFIX):
		method = kwargs.get("method")
		if isinstance(method, str):
			return method
		if callable(method):
			return f"{method.__module__}.{method.__qualname__}"
	return function


def exc_type_of(exc_info: str | None) -> str | None:
	"""`frappe.exceptions.ValidationError` from a traceback's last line."""
	if not exc_info:
		return None
	for line in reversed(exc_info.strip().splitlines()):
		line = line.strip()
		if line:
			head = line.split(":", 1)[0].strip()
			return head or None
	return None


def latest_exc_info(conn: Redis, job_id: str) -> str | None:
	"""The traceback of the job's latest failure (RQ >= 1.12 keeps it in `rq:results:<id>`)."""
	entries = conn.xrevrange(Result.get_key(job_id), "+", "-", count=1)
	return exc_from_result_entries(conn, job_id, entries)


def exc_from_result_entries(conn: Redis, job_id: str, entries: list) -> str | None:
	if not entries:
		return None
	result_id, fields = entries[0]
	try:
		result = Result.restore(job_id, as_text(result_id), fields, connection=conn)
	except Exception:
		return None
	return result.exc_string if result.type != Result.Type.SUCCESSFUL else None


def payload_from_hash(job_id: str, raw: dict, exc_info: str | None = None) -> JobPayload:
	"""A JSON-safe payload from a job hash as HGETALL returns it.

	Never fails on the hash's content: a `data` or `meta` that does not decode is reported in
	`unreadable` (SHA-256 and size of the raw bytes), so a quarantine of such a job completes.
	"""
	fields = {as_text(k): v for k, v in raw.items()}
	unreadable: list[UnreadableField] = []
	try:
		function, args, kwargs = decode_data(fields.get("data"))
	except Exception as exc:  # any bytes can sit there; unpickling them can raise anything
		function, args, kwargs = None, [], {}
		unreadable.append(unreadable_field("data", fields.get("data"), exc))
	try:
		meta = strict_meta(fields.get("meta"))
	except Exception as exc:
		meta = {}
		unreadable.append(unreadable_field("meta", fields.get("meta"), exc))
	if exc_info is None and fields.get("erp_ops_exc_info"):
		exc_info = as_text(fields["erp_ops_exc_info"])
	if exc_info is None and fields.get("exc_info"):
		try:
			exc_info = zlib.decompress(fields["exc_info"]).decode()
		except (zlib.error, UnicodeDecodeError):
			exc_info = as_text(fields["exc_info"]) or None
	try:
		timeout = int(float(as_text(fields["timeout"]))) if fields.get("timeout") not in (None, b"") else None
	except (ValueError, OverflowError):
		timeout = None
	return JobPayload(
		job_id=job_id,
		queue=_text(fields.get("origin")),
		site=split_frappe_job_id(job_id)[0],
		function=function,
		method=frappe_method(function, kwargs),
		args=jsonable(args),
		kwargs=jsonable(kwargs),
		meta=jsonable(meta),
		exc_info=exc_info or None,
		status=_text(fields.get("status")),
		enqueued_at=parse_rq_time(fields.get("enqueued_at")),
		ended_at=parse_rq_time(fields.get("ended_at")),
		timeout=timeout,
		unreadable=unreadable,
	)


def strict_meta(raw: bytes | None) -> dict:
	"""RQ's `meta` field decoded; raises when it is there but is not a pickled dict."""
	if not raw:
		return {}
	meta = safe_loads(raw)
	if not isinstance(meta, dict):
		raise pickle.UnpicklingError(f"meta is a {type(meta).__name__}, not a dict")
	return meta


def unreadable_field(name: str, raw: bytes | str | None, exc: BaseException) -> UnreadableField:
	data = raw.encode() if isinstance(raw, str) else (raw or b"")
	return UnreadableField(
		field=name,
		sha256=hashlib.sha256(data).hexdigest(),
		size=len(data),
		error=f"{type(exc).__name__}: {exc}"[:500],
	)


def jsonable(value: Any) -> Any:
	"""Plain JSON types for display and storage; anything else becomes its repr."""
	if value is None or isinstance(value, (bool, int, float, str)):
		return str(value) if isinstance(value, MissingGlobal) else value
	if isinstance(value, dict):
		return {str(k): jsonable(v) for k, v in value.items()}
	if isinstance(value, (list, tuple, set, frozenset)):
		return [jsonable(v) for v in value]
	if isinstance(value, (datetime, date)):
		return value.isoformat()
	if isinstance(value, Decimal):
		return str(value)
	if isinstance(value, bytes):
		return value.decode(errors="replace")
	if callable(value) and hasattr(value, "__qualname__"):
		return f"{value.__module__}.{value.__qualname__}"
	return repr(value)


def _text(raw: bytes | str | None) -> str | None:
	if raw is None:
		return None
	text = as_text(raw)
	return text or None
