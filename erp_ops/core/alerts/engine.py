"""Rule evaluation: a pure state machine from (rules, snapshot, previous alerts, now) to the next.

Per (rule, subject):

    (none) ──cond──▶ pending ──cond held for_s──▶ firing ──clear held resolve_after_s──▶ resolved
                       │                              ▲                                      │
                       └──not cond──▶ (none)          └──────────cond within flap window─────┘

- Duplicates fold: while pending or firing, a true condition only updates the value and
  `evaluations`; there is never a second alert for the same rule and subject.
- Flapping is damped three ways: a clear threshold on the safe side (hysteresis), a minimum time
  clear before resolving, and a counter of firings within the flap window. Past `flap_limit` the
  alert is flapping: one FLAPPING notification, then its firings and resolutions are recorded
  (same incident) but not sent until a whole window passes without a firing.
- No data is not recovery: when Redis did not answer, rules over Redis figures keep their state.
- A resolved alert is kept for the flap window (to count re-firings), then dropped.

Nothing here does I/O; `store.py` keeps the state in Redis and `notify.py` sends.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from erp_ops.core.alerts.errors import AlertNotFound, InvalidRule
from erp_ops.core.alerts.models import (
	Aggregate,
	Alert,
	AlertRule,
	AlertStatus,
	Evaluation,
	Transition,
	TransitionKind,
	alert_key,
)
from erp_ops.core.alerts.paths import BENCH, Observation, observe, parse
from erp_ops.core.signals.models import Snapshot


def evaluate(
	rules: Iterable[AlertRule],
	snapshot: Snapshot,
	alerts: Iterable[Alert] = (),
	*,
	facts: Mapping[str, float] | None = None,
	now: datetime | None = None,
) -> Evaluation:
	"""Advance every alert by one evaluation of `rules` over `snapshot` (and external `facts`)."""
	now = _aware(now or snapshot.taken_at)
	previous = {a.key: a for a in alerts}
	rules = [r for r in rules if r.enabled]
	names = {r.name for r in rules}
	out: dict[str, Alert] = {}
	transitions: list[Transition] = []
	skipped: dict[str, str] = {}

	for rule in rules:
		path = parse(rule.signal)
		mine = {k: a for k, a in previous.items() if a.rule == rule.name}
		if path.needs_redis and not snapshot.redis_ok:
			skipped[rule.name] = "Redis did not answer: state kept, nothing resolved"
			out.update(mine)
			continue
		values = _values(rule, snapshot, facts)
		for subject in sorted(set(values) | {a.subject for a in mine.values()}):
			alert, happened = step(
				rule, mine.get(alert_key(rule.name, subject)), subject, values.get(subject), now
			)
			transitions.extend(happened)
			if alert is not None:
				out[alert.key] = alert

	for alert in previous.values():
		if alert.rule not in names and alert.status is not AlertStatus.RESOLVED:
			# The rule was deleted or disabled: close what it had open, once, so nothing stays firing.
			closed = alert.model_copy(
				update={"status": AlertStatus.RESOLVED, "resolved_at": now, "clear_since": None}
			)
			was_firing = alert.status is AlertStatus.FIRING
			transitions.append(
				_transition(
					TransitionKind.RESOLVED if was_firing else TransitionKind.CANCELED,
					closed,
					now,
					notify=was_firing and not alert.flapping,
					reason="rule removed or disabled",
				)
			)
	return Evaluation(
		evaluated_at=now,
		alerts=sorted(out.values(), key=lambda a: (a.rule, a.subject)),
		transitions=transitions,
		skipped=skipped,
	)


def step(
	rule: AlertRule, alert: Alert | None, subject: str, value: float | None, now: datetime
) -> tuple[Alert | None, list[Transition]]:
	"""One evaluation of one (rule, subject): the next state and what happened."""
	on = value is not None and rule.fires(value)
	status = alert.status if alert else None

	if status is None or status is AlertStatus.RESOLVED:
		if alert is not None and now - alert.last_seen > timedelta(seconds=rule.flap_window_s) and not on:
			return None, []  # quiet for a whole window: forget it
		if not on:
			return alert, []
		assert value is not None
		recent = _recent(alert.fire_times if alert else [], now, rule.flap_window_s)
		# Still flapping if this firing would again exceed the limit: then it joins the same incident.
		flapping = bool(alert and alert.flapping and len(recent) + 1 > rule.flap_limit)
		incident = alert.incident if alert and flapping else _incident(rule.name, subject, now)
		new = Alert(
			rule=rule.name,
			subject=subject,
			status=AlertStatus.PENDING,
			severity=rule.severity,
			incident=incident,
			value=value,
			threshold=rule.threshold,
			pending_since=now,
			last_seen=now,
			fire_times=recent,
			flapping=flapping,
			runbook=rule.runbook,
			# A flapping re-fire is the same incident: whoever acknowledged it still owns it.
			acknowledged_by=alert.acknowledged_by if alert and flapping else None,
			acknowledged_at=alert.acknowledged_at if alert and flapping else None,
			ack_note=alert.ack_note if alert and flapping else None,
		)
		if rule.for_s <= 0:
			return _fire(rule, new, value, now)
		return new, [_transition(TransitionKind.PENDING, new, now, notify=False)]

	assert alert is not None
	if status is AlertStatus.PENDING:
		if not on:
			gone = alert.model_copy(
				update={"value": value, "status": AlertStatus.RESOLVED, "resolved_at": now}
			)
			reason = "condition cleared before the for-duration"
			return (gone if gone.fire_times else None), [
				_transition(TransitionKind.CANCELED, gone, now, notify=False, reason=reason)
			]
		held = alert.model_copy(
			update={"value": value, "last_seen": now, "evaluations": alert.evaluations + 1}
		)
		if now - alert.pending_since >= timedelta(seconds=rule.for_s):
			assert value is not None
			return _fire(rule, held, value, now)
		return held, []

	# firing
	if on:
		updated = alert.model_copy(
			update={
				"value": value,
				"last_seen": now,
				"clear_since": None,
				"evaluations": alert.evaluations + 1,
			}
		)
		if (
			rule.renotify_s > 0
			and not alert.acknowledged_by
			and not alert.flapping
			and alert.notified_at is not None
			and now - alert.notified_at >= timedelta(seconds=rule.renotify_s)
		):
			updated = updated.model_copy(update={"notified_at": now})
			return updated, [_transition(TransitionKind.RENOTIFY, updated, now, notify=True)]
		return updated, []
	if not rule.clears(value):
		# Inside the hysteresis band: still firing, and the resolve clock starts over.
		return alert.model_copy(update={"value": value, "clear_since": None}), []
	clear_since = alert.clear_since or now
	if now - clear_since < timedelta(seconds=rule.resolve_after_s):
		return alert.model_copy(update={"value": value, "clear_since": clear_since}), []
	resolved = alert.model_copy(
		update={"value": value, "status": AlertStatus.RESOLVED, "resolved_at": now, "clear_since": None}
	)
	return resolved, [_transition(TransitionKind.RESOLVED, resolved, now, notify=not alert.flapping)]


def acknowledge(
	alerts: Iterable[Alert], rule: str, subject: str, user: str, now: datetime, note: str | None = None
) -> tuple[list[Alert], Transition]:
	"""Mark a pending or firing alert acknowledged: no repeat notifications for this incident."""
	now = _aware(now)
	out, found = [], None
	for alert in alerts:
		if alert.rule == rule and alert.subject == subject and alert.status is not AlertStatus.RESOLVED:
			alert = alert.model_copy(
				update={"acknowledged_by": user, "acknowledged_at": now, "ack_note": note}
			)
			found = alert
		out.append(alert)
	if found is None:
		raise AlertNotFound(f"no open alert for rule {rule!r} and subject {subject!r}")
	return out, _transition(TransitionKind.ACKNOWLEDGED, found, now, notify=False, reason=note)


def _fire(rule: AlertRule, alert: Alert, value: float, now: datetime) -> tuple[Alert, list[Transition]]:
	fire_times = [*_recent(alert.fire_times, now, rule.flap_window_s), now]
	flapping = len(fire_times) > rule.flap_limit
	fired = alert.model_copy(
		update={
			"status": AlertStatus.FIRING,
			"fired_at": now,
			"resolved_at": None,
			"clear_since": None,
			"trigger_value": value,
			"fire_times": fire_times[-(rule.flap_limit + 1) :],
			"flapping": flapping,
		}
	)
	if flapping and not alert.flapping:
		fired = fired.model_copy(update={"notified_at": now})
		reason = (
			f"fired {len(fire_times)} times within {int(rule.flap_window_s)} s: further changes are not sent"
		)
		return fired, [_transition(TransitionKind.FLAPPING, fired, now, notify=True, reason=reason)]
	if flapping:
		return fired, [_transition(TransitionKind.FIRED, fired, now, notify=False, reason="flapping")]
	fired = fired.model_copy(update={"notified_at": now})
	return fired, [_transition(TransitionKind.FIRED, fired, now, notify=True)]


def _values(rule: AlertRule, snapshot: Snapshot, facts: Mapping[str, float] | None) -> dict[str, float]:
	observations = observe(snapshot, rule.signal, facts)
	if rule.guard is not None:
		guard = {o.subject: o.value for o in observe(snapshot, rule.guard.signal, facts)}
		observations = [
			o
			for o in observations
			if (g := guard.get(o.subject, guard.get(BENCH))) is not None
			and rule.guard.comparison.holds(g, rule.guard.threshold)
		]
	if rule.aggregate is None:
		return {o.subject: o.value for o in observations}
	folded = _aggregate(rule.aggregate, observations)
	return {} if folded is None else {BENCH: folded}


def _aggregate(how: Aggregate, observations: list[Observation]) -> float | None:
	values = [o.value for o in observations]
	if how is Aggregate.COUNT:
		return float(len(values))
	if not values:
		return None
	if how is Aggregate.MAX:
		return max(values)
	if how is Aggregate.MIN:
		return min(values)
	if how is Aggregate.SUM:
		return float(sum(values))
	return sum(values) / len(values)


def _aware(now: datetime) -> datetime:
	# Stored times are UTC-aware; a naive time (Frappe's now_datetime() is naive, in site time)
	# would compare wrongly or not at all.
	if now.tzinfo is None or now.utcoffset() is None:
		raise InvalidRule("evaluation time must be timezone-aware (UTC), e.g. datetime.now(timezone.utc)")
	return now


def _recent(times: list[datetime], now: datetime, window_s: float) -> list[datetime]:
	return [t for t in times if now - t <= timedelta(seconds=window_s)]


def _incident(rule: str, subject: str, now: datetime) -> str:
	return f"{alert_key(rule, subject)}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}"


def _transition(
	kind: TransitionKind, alert: Alert, now: datetime, *, notify: bool, reason: str | None = None
) -> Transition:
	return Transition(
		id=f"{alert.incident}#{kind.value}@{now.strftime('%Y%m%dT%H%M%S.%fZ')}",
		kind=kind,
		at=now,
		notify=notify,
		alert=alert,
		reason=reason,
	)
