"""Every bad delivery is answered with its status and recorded, without taking the key."""

import json

import pytest

from erp_ops.core.events.canonical import body_digest
from erp_ops.core.events.errors import EventTooLarge, InvalidKey, InvalidPayload, UnknownEventType
from erp_ops.core.events.ingest import ingest
from erp_ops.core.events.models import EventStatus, IngestRequest, IngestSettings
from tests.core.events.conftest import effects

GOOD = json.dumps({"order_id": "SO-1", "amount": 10})


def deliver(store, handlers, *, key="k1", source="shop", event_type="shop:order.created", body=GOOD, **kw):
	request = IngestRequest(source=source, event_type=event_type, idempotency_key=key, body=body)
	return ingest(store, handlers, request, **kw)


def refused(store, handlers, error, **kw):
	with pytest.raises(error) as caught:
		deliver(store, handlers, **kw)
	record = store.get(caught.value.event_name)
	assert record.status == EventStatus.REJECTED and record.idempotency_key is None
	assert record.reason == error.__name__ and record.error
	return caught.value, record


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "a\0b"], ids=["empty", "blank", "too-long", "nul"])
def test_bad_key_is_400(store, handlers, key):
	error, record = refused(store, handlers, InvalidKey, key=key)
	assert error.http_status == 400
	assert record.offered_key == (key[:255] or None)


def test_bad_source_is_400(store, handlers):
	error, record = refused(store, handlers, InvalidKey, source="")
	assert error.http_status == 400 and record.source == ""


def test_oversized_body_is_413_and_not_stored(store, handlers):
	settings = IngestSettings(max_body_bytes=1000)
	body = json.dumps({"order_id": "SO-1", "amount": 10, "note": "x" * 2000})
	error, record = refused(store, handlers, EventTooLarge, body=body, settings=settings)
	assert error.http_status == 413
	assert record.payload is None and record.payload_size == len(body.encode())
	assert record.payload_hash == body_digest(body.encode())


def test_default_limit_is_one_megabyte(store, handlers):
	body = json.dumps({"order_id": "SO-1", "amount": 10, "note": "x" * (1024 * 1024)})
	error, _record = refused(store, handlers, EventTooLarge, body=body)
	assert "1048576" in str(error)


@pytest.mark.parametrize(
	"body", ['{"order_id": "SO-1",', b"\xff\xfe", '{"a": NaN}'], ids=["truncated", "not-utf8", "nan"]
)
def test_invalid_json_is_422(store, handlers, body):
	error, record = refused(store, handlers, InvalidPayload, body=body)
	assert error.http_status == 422 and record.payload is not None


def test_schema_failure_is_422_with_field_errors(store, handlers):
	body = json.dumps({"order_id": "", "amount": -5})
	error, record = refused(store, handlers, InvalidPayload, body=body)
	assert error.http_status == 422
	assert {(e["loc"], e["type"]) for e in error.field_errors} == {
		("order_id", "string_too_short"),
		("amount", "greater_than"),
	}
	assert "order_id" in record.error and "amount" in record.error
	assert json.loads(record.payload) == {"order_id": "", "amount": -5}


def test_unknown_event_type_is_422(store, handlers):
	error, record = refused(store, handlers, UnknownEventType, event_type="shop:order.exploded")
	assert error.http_status == 422 and record.event_type == "shop:order.exploded"


def test_missing_ordering_value_is_422(store, handlers):
	body = json.dumps({"item": "ITEM-1", "price": 5, "seq": None})
	with pytest.raises(InvalidPayload):
		deliver(store, handlers, event_type="shop:price.updated", body=body)


def test_a_refusal_does_not_take_the_key(store, handlers):
	refused(store, handlers, InvalidPayload, body=json.dumps({"order_id": "SO-1"}))
	answer = deliver(store, handlers)  # fixed and sent again with the same key
	assert answer.status == EventStatus.PROCESSED and not answer.duplicate
	assert effects(store) == 1
	assert store.status_counts() == {"Rejected": 1, "Processed": 1}
