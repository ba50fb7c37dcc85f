"""Real event handlers for the tests: they write business rows through the event's transaction.

`event_effect` has no unique key on purpose: an event processed twice would leave two rows, so
counting rows counts effects.
"""

import os
import time
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from erp_ops.core.events.handlers import EventHandler, HandlerRegistry, load_handlers
from erp_ops.core.events.models import ConflictPolicy, Event, FieldChange, HandlerResult

DDL = (
	"""
CREATE TABLE IF NOT EXISTS event_effect (
  id BIGINT AUTO_INCREMENT PRIMARY KEY,
  event VARCHAR(140) NOT NULL,
  order_id VARCHAR(140) NOT NULL,
  amount DECIMAL(18, 2) NOT NULL,
  pid INT NOT NULL
) ENGINE=InnoDB
""",
	"""
CREATE TABLE IF NOT EXISTS item_price (
  item VARCHAR(140) PRIMARY KEY,
  price DECIMAL(18, 2) NOT NULL,
  currency VARCHAR(3) NOT NULL
) ENGINE=InnoDB
""",
	"""
CREATE TABLE IF NOT EXISTS customer (
  customer VARCHAR(140) PRIMARY KEY,
  customer_name VARCHAR(140) NOT NULL,
  event VARCHAR(140) NOT NULL
) ENGINE=InnoDB
""",
	"""
CREATE TABLE IF NOT EXISTS stock_level (
  item VARCHAR(140) PRIMARY KEY,
  qty INT NOT NULL
) ENGINE=InnoDB
""",
)

HOOK = {
	"shop:order.created": "tests.support.event_handlers.order_created",
	"shop:price.updated": "tests.support.event_handlers.price_updated",
	"crm:customer.created": "tests.support.event_handlers.customer_created",
	"wms:stock.level": "tests.support.event_handlers.stock_level",
	"shop:ping": "tests.support.event_handlers.ping",
}


def create_tables(conn) -> None:
	with conn.cursor() as cur:
		for ddl in DDL:
			cur.execute(ddl)


def registry() -> HandlerRegistry:
	"""The handlers exactly as a Frappe site would load them from the hook."""
	return load_handlers(HOOK)


class OrderCreated(BaseModel):
	order_id: str = Field(min_length=1)
	amount: float = Field(gt=0)
	hang_once: str | None = None  # a marker path: the first run creates it and hangs (to be killed)
	fail_once: str | None = None  # a marker path: the first run creates it and raises


def create_order(event: Event, tx) -> HandlerResult:
	p: OrderCreated = event.payload
	with tx.connection.cursor() as cur:
		cur.execute(
			"INSERT INTO event_effect (event, order_id, amount, pid) VALUES (%s, %s, %s, %s)",
			(event.name, p.order_id, p.amount, os.getpid()),
		)
	if p.hang_once and not os.path.exists(p.hang_once):
		open(p.hang_once, "w").close()
		time.sleep(600)  # killed here, with the effect written but not committed
	if p.fail_once and not os.path.exists(p.fail_once):
		open(p.fail_once, "w").close()
		raise RuntimeError("ledger locked")
	return HandlerResult(result={"order": p.order_id})


order_created = EventHandler(fn=create_order, schema=OrderCreated)


class PriceUpdated(BaseModel):
	item: str
	price: float
	currency: str = "EUR"
	seq: int


def update_price(event: Event, tx) -> HandlerResult:
	p: PriceUpdated = event.payload
	with tx.connection.cursor() as cur:
		cur.execute("SELECT price, currency FROM item_price WHERE item = %s FOR UPDATE", (p.item,))
		before = cur.fetchone()
		cur.execute(
			"INSERT INTO item_price (item, price, currency) VALUES (%s, %s, %s) "
			"ON DUPLICATE KEY UPDATE price = VALUES(price), currency = VALUES(currency)",
			(p.item, p.price, p.currency),
		)
	old_price = float(before["price"]) if before else None
	old_currency = before["currency"] if before else None
	changes = [
		FieldChange(doctype="Item Price", name=p.item, field=field, before=old, after=new)
		for field, old, new in (
			("price_list_rate", old_price, p.price),
			("currency", old_currency, p.currency),
		)
		if old != new
	]
	return HandlerResult(result={"item": p.item, "price": p.price}, changes=changes)


price_updated = EventHandler(
	fn=update_price,
	schema=PriceUpdated,
	policy=ConflictPolicy.LAST_WRITER_WINS,
	entity=lambda p: p.item,
	sequence=lambda p: p.seq,
)


class CustomerCreated(BaseModel):
	customer: str
	customer_name: str


def create_customer(event: Event, tx) -> HandlerResult:
	p: CustomerCreated = event.payload
	with tx.connection.cursor() as cur:
		cur.execute(
			"INSERT INTO customer (customer, customer_name, event) VALUES (%s, %s, %s) "
			"ON DUPLICATE KEY UPDATE customer_name = VALUES(customer_name)",
			(p.customer, p.customer_name, event.name),
		)
	return HandlerResult(result={"customer": p.customer})


customer_created = EventHandler(
	fn=create_customer,
	schema=CustomerCreated,
	policy=ConflictPolicy.FIRST_WRITER_WINS,
	entity=lambda p: p.customer,
)


class StockLevel(BaseModel):
	item: str
	qty: int
	at: datetime


def set_stock(event: Event, tx) -> HandlerResult:
	p: StockLevel = event.payload
	with tx.connection.cursor() as cur:
		cur.execute(
			"INSERT INTO stock_level (item, qty) VALUES (%s, %s) ON DUPLICATE KEY UPDATE qty = VALUES(qty)",
			(p.item, p.qty),
		)
	return HandlerResult(result={"item": p.item, "qty": p.qty})


stock_level = EventHandler(
	fn=set_stock,
	schema=StockLevel,
	policy=ConflictPolicy.REJECT_STALE,
	entity=lambda p: p.item,
	occurred_at=lambda p: p.at,
	max_age=timedelta(hours=1),
)


def ping(event: Event, tx) -> None:
	"""A plain function: no schema, no ordering."""
	return None
