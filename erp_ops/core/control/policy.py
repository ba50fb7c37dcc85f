"""Retry policy: which failures retry automatically, after how long, and when to give up.

Pure functions over the rules Ops Settings holds. The first matching rule wins, so put specific
rules (a method, an exception type) before broad ones. Delays grow exponentially and are jittered
so that a burst of failures does not come back as a burst of retries.
"""

import random
from collections.abc import Sequence

from erp_ops.core.control.models import RetryDecision, RetryDecisionKind, RetryRule


def matches(rule: RetryRule, method: str | None, exc_type: str | None) -> bool:
	if rule.method is not None:
		if method is None:
			return False
		if rule.method.endswith("*"):
			if not method.startswith(rule.method[:-1]):
				return False
		elif rule.method != method:
			return False
	if rule.exc_type is not None:
		if exc_type is None:
			return False
		if rule.exc_type not in (exc_type, exc_type.rpartition(".")[2]):
			return False
	return True


def rule_for(rules: Sequence[RetryRule], method: str | None, exc_type: str | None) -> RetryRule | None:
	return next((r for r in rules if matches(r, method, exc_type)), None)


def backoff(rule: RetryRule, attempt: int, rng: random.Random | None = None) -> float:
	"""Delay before retry number `attempt` (1-based): base x factor^(attempt-1), capped, jittered.

	A fraction `jitter` of the delay is drawn at random ("equal jitter"), so the delay stays
	within [delay x (1 - jitter), delay].
	"""
	rng = rng or random.Random()
	delay = min(rule.max_delay_s, rule.base_delay_s * rule.factor ** max(attempt - 1, 0))
	spread = delay * min(max(rule.jitter, 0.0), 1.0)
	return delay - spread + rng.uniform(0, spread)


def decide(
	rules: Sequence[RetryRule],
	method: str | None,
	exc_type: str | None,
	attempt: int,
	rng: random.Random | None = None,
) -> RetryDecision:
	"""What to do after a job's `attempt`-th failure (1 = it failed once)."""
	rule = rule_for(rules, method, exc_type)
	if rule is None:
		return RetryDecision(decision=RetryDecisionKind.NONE, attempt=attempt)
	if attempt < rule.max_attempts:
		return RetryDecision(
			decision=RetryDecisionKind.RETRY, delay_s=backoff(rule, attempt, rng), attempt=attempt, rule=rule
		)
	kind = RetryDecisionKind.QUARANTINE if rule.quarantine_after else RetryDecisionKind.NONE
	return RetryDecision(decision=kind, attempt=attempt, rule=rule)
