"""Handlers as the `erp_ops_event_handlers` hook declares them, and the HTTP status of each refusal."""

from datetime import timedelta

import pytest

from erp_ops.core.errors import InvalidInput
from erp_ops.core.events import errors
from erp_ops.core.events.handlers import EventHandler, load_handlers
from erp_ops.core.events.models import ConflictPolicy
from tests.support import event_handlers


def test_the_last_app_wins_and_plain_functions_become_handlers():
	registry = load_handlers(
		{
			"shop:order.created": [
				"tests.support.event_handlers.ping",
				"tests.support.event_handlers.order_created",
			],
			"shop:ping": "tests.support.event_handlers.ping",
		}
	)
	assert registry.types() == ["shop:order.created", "shop:ping"]
	order = registry.get("shop:order.created")
	assert order.fn is event_handlers.create_order and order.schema is event_handlers.OrderCreated
	assert order.label == "tests.support.event_handlers.order_created"
	ping = registry.get("shop:ping")
	assert ping.fn is event_handlers.ping and ping.schema is None and ping.entity is None
	assert registry.get("shop:nothing") is None


def test_bad_hook_values_are_refused():
	with pytest.raises(InvalidInput):
		load_handlers({"x": "tests.support.event_handlers.DDL"})  # a tuple, not a handler
	with pytest.raises(InvalidInput):
		load_handlers({"x": "nodots"})
	with pytest.raises(InvalidInput):
		EventHandler(fn=event_handlers.ping, policy=ConflictPolicy.REJECT_STALE)  # needs max_age
	assert EventHandler(fn=event_handlers.ping, policy=ConflictPolicy.REJECT_STALE, max_age=timedelta(1))


def test_each_refusal_carries_the_status_the_api_answers_with():
	assert errors.InvalidKey("x").http_status == 400
	assert errors.EventTooLarge("x").http_status == 413
	assert errors.InvalidPayload("x").http_status == 422
	assert errors.UnknownEventType("x").http_status == 422
	assert errors.KeyConflict("x", existing="EV-1").http_status == 409
	assert errors.InProgress("x").http_status == 409
	assert errors.TransientStoreError("x").http_status == 503
