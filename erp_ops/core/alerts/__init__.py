"""Alert rules over the snapshot: a path language, a pending → firing → resolved state machine with
damping, Redis-kept state with an outbox, notification payloads and a webhook sender."""

from erp_ops.core.alerts.engine import acknowledge, evaluate, step
from erp_ops.core.alerts.models import Alert, AlertRule, AlertStatus, Evaluation, Transition, TransitionKind
from erp_ops.core.alerts.paths import observe, parse

__all__ = [
	"Alert",
	"AlertRule",
	"AlertStatus",
	"Evaluation",
	"Transition",
	"TransitionKind",
	"acknowledge",
	"evaluate",
	"observe",
	"parse",
	"step",
]
