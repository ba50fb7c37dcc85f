"""Bulk actions by filter: preview → confirmation token → (approval) → execution in atomic batches.

`preview` snapshots the matching job ids into a token record in Redis; the token is the hash of
that snapshot (action, filter, ids, requester, expiry, a random nonce), so it confirms exactly what
the operator saw and cannot be guessed. `execute` acts only on the snapshot, `batch` jobs at a
time: each batch is one MULTI/EXEC of the single-job scripts plus the token's progress, so a
process killed at any point leaves every job either untouched or moved, and the token records
exactly how far it got. Executing the token again resumes there (after the lease of the killed
run expires) or returns the stored result once done.

Token record `erp_ops:<bench>:control:bulk:<token>` (hash): plan (JSON), state, approved_by,
next (index of the first job not yet acted on), moved, skipped, batches, lease_until, result.

Site scope: with `site`, a preview selects only that site's jobs and its plan records the site;
approving, executing or reading a token of another site is `ForeignToken`, worded as an unknown
token. `site=None` (the bench's own tools) previews every site's jobs.
"""

import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from redis import Redis

from erp_ops.core import rq_keys
from erp_ops.core.control import jobs, keys
from erp_ops.core.control.errors import (
	ApprovalRequired,
	ForeignToken,
	SelfApproval,
	TokenInvalid,
	TokenUsed,
)
from erp_ops.core.control.models import (
	Action,
	BulkFilter,
	BulkPreview,
	BulkResult,
	BulkState,
	JobState,
)
from erp_ops.core.control.payload import (
	EXECUTE_JOB_SUFFIX,
	decode_data,
	exc_from_result_entries,
	exc_type_of,
	frappe_method,
)
from erp_ops.core.errors import InvalidInput
from erp_ops.core.evidence.capture import ATTEMPT, kwargs_digest
from erp_ops.core.rq_keys import Registry, as_text, parse_rq_time

BATCH = 500
APPROVAL_ABOVE = 500  # four eyes above this many jobs (Ops Settings may change it)
TOKEN_TTL_S = 15 * 60
RESULT_TTL_S = 24 * 3600
LEASE_S = 60.0
SAMPLE = 20

# Where each bulk action finds its jobs.
SOURCES: dict[Action, JobState] = {
	Action.REQUEUE: JobState.FAILED,
	Action.RETRY: JobState.FAILED,
	Action.QUARANTINE: JobState.FAILED,
	Action.CANCEL: JobState.QUEUED,
	Action.RELEASE: JobState.QUARANTINED,
}


def preview(
	conn: Redis,
	bench_id: str,
	action: Action,
	flt: BulkFilter,
	*,
	requested_by: str,
	reason: str,
	approval_above: int | None = APPROVAL_ABOVE,
	ttl_s: int = TOKEN_TTL_S,
	sample_size: int = SAMPLE,
	now: datetime | None = None,
	site: str | None = None,
) -> BulkPreview:
	"""Count and describe the jobs `flt` matches and store a token that confirms exactly them.

	`approval_above=None` turns four eyes off; otherwise more jobs than that need `approve` by a
	second person before `execute`.
	"""
	action = Action(action)
	if action not in SOURCES:
		raise InvalidInput(
			f"{action.value} is not a bulk action; bulk: {', '.join(a.value for a in SOURCES)}"
		)
	if not reason or not reason.strip():
		raise InvalidInput("every action needs a reason")
	now = now or datetime.now(timezone.utc)
	matched = select(conn, bench_id, SOURCES[action], flt, site=site)
	approval_required = approval_above is not None and len(matched) > approval_above
	expires_at = now + timedelta(seconds=ttl_s)
	plan = {
		"action": action.value,
		"filter": flt.model_dump(mode="json"),
		"items": [[m["job_id"], m["queue"]] for m in matched],
		"methods": dict(Counter(m["method"] or "?" for m in matched).most_common()),
		"queues": dict(
			Counter(rq_keys.queue_short_name(m["queue"], bench_id) for m in matched).most_common()
		),
		"requested_by": requested_by,
		"reason": reason.strip(),
		"created_at": now.isoformat(),
		"expires_at": expires_at.isoformat(),
		"approval_required": approval_required,
		"nonce": secrets.token_hex(16),
	}
	if site is not None:
		plan["site"] = site
	token = plan_digest(plan)
	state = BulkState.PENDING_APPROVAL if approval_required else BulkState.READY
	key = keys.bulk_key(bench_id, token)
	pipe = conn.pipeline(transaction=True)
	pipe.hset(key, mapping={"plan": canonical(plan), "state": state.value, "next": 0})
	pipe.expire(key, ttl_s)
	pipe.execute()
	return _preview(token, plan, state, None, sample_size)


def approve(conn: Redis, bench_id: str, token: str, *, approver: str, site: str | None = None) -> BulkPreview:
	"""The second Ops Manager's approval; the requester cannot approve their own request."""
	key = keys.bulk_key(bench_id, token)

	def claim(pipe) -> BulkPreview:
		plan, record = _load(pipe, key, token, site)
		state = BulkState(record["state"])
		if state is not BulkState.PENDING_APPROVAL:
			raise TokenUsed(f"bulk {token} is {state.value}" + _by(record.get("approved_by")))
		if approver.strip().lower() == plan["requested_by"].strip().lower():
			raise SelfApproval(f"{approver} requested this bulk action; another Ops Manager must approve it")
		pipe.multi()
		pipe.hset(key, mapping={"state": BulkState.READY.value, "approved_by": approver})
		return _preview(token, plan, BulkState.READY, approver, SAMPLE)

	return conn.transaction(claim, key, value_from_callable=True)


def execute(
	conn: Redis,
	bench_id: str,
	token: str,
	*,
	batch: int = BATCH,
	lease_s: float = LEASE_S,
	on_batch: Callable[[int, int], None] | None = None,
	site: str | None = None,
) -> BulkResult:
	"""Act on the token's jobs in atomic batches; a finished token returns its stored result.

	Jobs that left the source state since the preview are skipped (left where they are).
	`on_batch(done, planned)` is called after each committed batch.
	"""
	if batch < 1:
		raise InvalidInput("batch must be at least 1")
	key = keys.bulk_key(bench_id, token)

	def claim(pipe) -> tuple[dict, dict]:
		plan, record = _load(pipe, key, token, site)
		state = BulkState(record["state"])
		if state is BulkState.DONE:
			return plan, record
		if state is BulkState.PENDING_APPROVAL:
			raise ApprovalRequired(
				f"bulk {token} covers {len(plan['items'])} jobs: a second Ops Manager must approve it first"
			)
		if state is BulkState.EXECUTING and float(record.get("lease_until") or 0) > time.time():
			raise TokenUsed(f"bulk {token} is being executed by another call")
		pipe.multi()
		pipe.hset(key, mapping={"state": BulkState.EXECUTING.value, "lease_until": time.time() + lease_s})
		pipe.expire(key, RESULT_TTL_S)  # the token outlives its preview TTL once acted on
		return plan, record

	plan, record = conn.transaction(claim, key, value_from_callable=True)
	if record["state"] == BulkState.DONE.value:
		stored = BulkResult.model_validate_json(record["result"])
		return stored.model_copy(update={"replayed": True})
	action = Action(plan["action"])
	items = plan["items"]
	start = int(record.get("next") or 0)
	new_ids: list[str] = []
	for begin in range(start, len(items), batch):
		chunk = items[begin : begin + batch]
		steps = _steps(conn, bench_id, action, chunk, key)
		pipe = conn.pipeline(transaction=True)
		for source in {s.source for s in steps}:
			pipe.script_load(source)  # in the transaction: a flushed script cache cannot split a batch
		for step in steps:
			pipe.evalsha(_sha(step.source), len(step.keys), *step.keys, *step.args)
		vanished = len(chunk) - sum(s.count for s in steps)
		if vanished:  # jobs whose hash vanished before a retry could copy it
			pipe.hincrby(key, "skipped", vanished)
		pipe.hset(key, mapping={"next": begin + len(chunk), "lease_until": time.time() + lease_s})
		pipe.hincrby(key, "batches", 1)
		replies = pipe.execute()
		offset = len({s.source for s in steps})
		for step, reply in zip(steps, replies[offset : offset + len(steps)], strict=True):
			if step.new_job_id and as_text(reply[0]) == "ok":
				new_ids.append(step.new_job_id)
		if on_batch:
			on_batch(begin + len(chunk), len(items))
	return _finish(conn, key, token, plan, new_ids)


def status(conn: Redis, bench_id: str, token: str, *, site: str | None = None) -> BulkResult:
	"""Where a bulk action stands (also after its process died)."""
	record = _decode(conn.hgetall(keys.bulk_key(bench_id, token)))
	if not record or "plan" not in record:
		raise TokenInvalid(f"unknown or expired bulk token {token}")
	plan = json.loads(record["plan"])
	_check_site(plan, token, site)
	if record.get("result"):
		return BulkResult.model_validate_json(record["result"])
	return _result(token, plan, record, [])


def plan_site(conn: Redis, bench_id: str, token: str) -> tuple[str | None, str | None]:
	"""(action, site) a stored token's plan names, (None, None) for an unknown token; for logging."""
	raw = conn.hget(keys.bulk_key(bench_id, token), "plan") if token else None
	try:
		plan = json.loads(raw) if raw else {}
	except ValueError:
		plan = {}
	return plan.get("action"), plan.get("site")


def select(
	conn: Redis, bench_id: str, source: JobState, flt: BulkFilter, *, site: str | None = None
) -> list[dict]:
	"""The bench's jobs in `source` (failed, queued or quarantined) that match the filter, oldest first.

	With `site`, only that site's jobs, whatever `flt.sites` says. Reads in a constant number of
	pipelined round trips whatever the number of jobs.
	"""
	names = jobs.bench_queues(conn, bench_id, flt.queues or None)
	if source is JobState.QUARANTINED:
		members, rows = _quarantined(conn, bench_id, set(names))
	else:
		pipe = conn.pipeline(transaction=False)
		for q in names:
			if source is JobState.FAILED:
				pipe.zrange(Registry.FAILED.key(q), 0, -1)
			else:
				pipe.lrange(rq_keys.queue_key(q), 0, -1)
		members = [(q, as_text(m)) for q, found in zip(names, pipe.execute(), strict=True) for m in found]
		time_field = "ended_at" if source is JobState.FAILED else "enqueued_at"
		pipe = conn.pipeline(transaction=False)
		for _q, job_id in members:
			pipe.hmget(rq_keys.job_key(job_id), "data", time_field, "origin")
		rows = pipe.execute()
	if not members:
		return []
	exc_by_id: dict[str, str | None] = {}
	if flt.exc_types:
		pipe = conn.pipeline(transaction=False)
		for _q, job_id in members:
			pipe.xrevrange(f"rq:results:{job_id}", "+", "-", count=1)
		for (_q, job_id), entries in zip(members, pipe.execute(), strict=True):
			exc_by_id[job_id] = exc_type_of(exc_from_result_entries(conn, job_id, entries))
	sites, methods = set(flt.sites), set(flt.methods)
	wanted_exc = set(flt.exc_types)
	matched = []
	for (queue, job_id), (data, when_raw, origin) in zip(members, rows, strict=True):
		if data is None or as_text(origin or b"") != queue:
			continue  # a dangling registry entry or another queue's job: not ours to move
		when = parse_rq_time(when_raw)
		if flt.since and (when is None or when < flt.since):
			continue
		if flt.until and (when is None or when >= flt.until):
			continue
		try:
			function, _args, kwargs = decode_data(data)
		except Exception:
			function, kwargs = None, {}
		method = frappe_method(function, kwargs)
		digest = job_kwargs_digest(function, kwargs)
		if flt.kwargs_digests and digest not in flt.kwargs_digests:
			continue
		owner = jobs.site_of(job_id, data)
		if site is not None and owner != site:
			continue
		if sites and owner not in sites:
			continue
		if methods and method not in methods:
			continue
		if wanted_exc:
			exc = exc_by_id.get(job_id)
			if not exc or not (exc in wanted_exc or exc.rpartition(".")[2] in wanted_exc):
				continue
		matched.append({"job_id": job_id, "queue": queue, "method": method, "when": when, "digest": digest})
	epoch = datetime.min.replace(tzinfo=timezone.utc)
	matched.sort(key=lambda m: m["when"] or epoch)
	return matched


def _quarantined(conn: Redis, bench_id: str, queues: set[str]) -> tuple[list[tuple[str, str]], list]:
	"""Quarantined jobs of the given queues as (queue, id) with their (data, ended_at, origin)."""
	ids = [as_text(m) for m in conn.zrange(keys.quarantine_key(bench_id), 0, -1)]
	pipe = conn.pipeline(transaction=False)
	for job_id in ids:
		pipe.hmget(keys.quarantined_job_key(bench_id, job_id), "data", "ended_at", "origin")
	members, rows = [], []
	for job_id, row in zip(ids, pipe.execute() if ids else [], strict=True):
		origin = as_text(row[2]) if row[2] else None
		if origin in queues:  # its queue is the one it goes back to
			members.append((origin, job_id))
			rows.append(row)
	return members, rows


def job_kwargs_digest(function: str | None, kwargs: dict) -> str:
	"""The digest Job Evidence gives the job: of the method's own kwargs inside Frappe's execute_job."""
	inner = kwargs.get("kwargs") if function and function.endswith(EXECUTE_JOB_SUFFIX) else kwargs
	return kwargs_digest(inner if inner is not None else {})


def plan_digest(plan: dict) -> str:
	return hashlib.sha256(canonical(plan).encode()).hexdigest()[:40]


def canonical(value: object) -> str:
	return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _steps(conn: Redis, bench_id: str, action: Action, chunk: list, progress_key: str) -> list[jobs.Step]:
	now = time.time()
	if action in (Action.REQUEUE, Action.CANCEL):
		by_queue: dict[str, list[str]] = {}
		for job_id, queue in chunk:
			by_queue.setdefault(queue, []).append(job_id)
		return [jobs.many_step(action, bench_id, q, ids, now, progress_key) for q, ids in by_queue.items()]
	if action is Action.RELEASE:
		return [
			jobs.release_step(bench_id, job_id, queue, now=now, progress_key=progress_key)
			for job_id, queue in chunk
		]
	pipe = conn.pipeline(transaction=False)
	for job_id, _q in chunk:
		if action is Action.RETRY:
			pipe.hgetall(rq_keys.job_key(job_id))
			pipe.get(ATTEMPT.format(bench=bench_id, job_id=job_id))
		else:
			pipe.xrevrange(f"rq:results:{job_id}", "+", "-", count=1)
	replies = pipe.execute()
	steps = []
	if action is Action.RETRY:
		for (job_id, queue), raw, seen in zip(chunk, replies[0::2], replies[1::2], strict=True):
			if raw:
				steps.append(
					jobs.retry_step(bench_id, job_id, queue, raw, seen, now=now, progress_key=progress_key)
				)
		return steps
	for (job_id, queue), entries in zip(chunk, replies, strict=True):
		exc = exc_from_result_entries(conn, job_id, entries)
		steps.append(
			jobs.quarantine_step(
				bench_id, job_id, queue, exc, expected=JobState.FAILED, now=now, progress_key=progress_key
			)
		)
	return steps


def _finish(conn: Redis, key: str, token: str, plan: dict, new_ids: list[str]) -> BulkResult:
	def done(pipe) -> BulkResult:
		_plan, record = _load(pipe, key, token)
		if record.get("result"):  # a resumed run finished first
			return BulkResult.model_validate_json(record["result"])
		result = _result(token, plan, {**record, "state": BulkState.DONE.value}, new_ids)
		pipe.multi()
		pipe.hset(key, mapping={"state": BulkState.DONE.value, "result": result.model_dump_json()})
		pipe.expire(key, RESULT_TTL_S)
		return result

	return conn.transaction(done, key, value_from_callable=True)


def _load(pipe, key: str, token: str, site: str | None = None) -> tuple[dict, dict]:
	"""Read and check a token inside a WATCH (the caller's transaction fails if it changes)."""
	record = _decode(pipe.hgetall(key))
	if not record or "plan" not in record:
		raise TokenInvalid(f"unknown or expired bulk token {token}: preview again")
	plan = json.loads(record["plan"])
	_check_site(plan, token, site)
	if plan_digest(plan) != token:
		raise TokenInvalid(f"bulk token {token} does not match its stored plan")
	if record["state"] in (BulkState.PENDING_APPROVAL.value, BulkState.READY.value):
		if datetime.fromisoformat(plan["expires_at"]) <= datetime.now(timezone.utc):
			raise TokenInvalid(f"bulk token {token} expired: preview again")
	return plan, record


def _check_site(plan: dict, token: str, site: str | None) -> None:
	"""A token previewed for another site (or for the whole bench) is unknown to `site`."""
	if site is not None and plan.get("site") != site:
		raise ForeignToken(f"unknown or expired bulk token {token}")


def _decode(raw: dict) -> dict[str, str]:
	return {as_text(k): as_text(v) for k, v in raw.items()}


def _preview(
	token: str, plan: dict, state: BulkState, approved_by: str | None, sample_size: int
) -> BulkPreview:
	return BulkPreview(
		token=token,
		action=Action(plan["action"]),
		count=len(plan["items"]),
		methods=plan["methods"],
		queues=plan["queues"],
		sample=[i for i, _q in plan["items"][:sample_size]],
		requested_by=plan["requested_by"],
		reason=plan["reason"],
		expires_at=datetime.fromisoformat(plan["expires_at"]),
		approval_required=plan["approval_required"],
		state=state,
		approved_by=approved_by,
	)


def _result(token: str, plan: dict, record: dict, new_ids: list[str]) -> BulkResult:
	return BulkResult(
		token=token,
		action=Action(plan["action"]),
		state=BulkState(record["state"]),
		planned=len(plan["items"]),
		moved=int(record.get("moved") or 0),
		skipped=int(record.get("skipped") or 0),
		batches=int(record.get("batches") or 0),
		requested_by=plan["requested_by"],
		approved_by=record.get("approved_by") or None,
		new_job_ids=new_ids,
	)


def _by(name: str | None) -> str:
	return f" (approved by {name})" if name else ""


_SHAS: dict[str, str] = {}


def _sha(source: str) -> str:
	if source not in _SHAS:
		_SHAS[source] = hashlib.sha1(source.encode()).hexdigest()
	return _SHAS[source]


__all__ = ["APPROVAL_ABOVE", "BATCH", "approve", "execute", "plan_site", "preview", "select", "status"]
