"""An `Ops Alert`-shaped sink on a real MariaDB table: one row per incident, one per transition.

Mirrors what the Frappe layer will do when it drains the outbox: upsert the incident's row with
the latest state, insert the transition by its id (INSERT IGNORE: a redelivery changes nothing).
"""

import pymysql

from erp_ops.core.alerts.models import Transition

DDL = (
	"""
	CREATE TABLE IF NOT EXISTS ops_alert (
	  name VARCHAR(190) PRIMARY KEY, rule VARCHAR(140), subject VARCHAR(255), status VARCHAR(20),
	  severity VARCHAR(20), value DOUBLE, trigger_value DOUBLE, runbook VARCHAR(140),
	  acknowledged_by VARCHAR(140), transitions INT DEFAULT 0
	)""",
	"""
	CREATE TABLE IF NOT EXISTS ops_alert_transition (
	  name VARCHAR(255) PRIMARY KEY, alert VARCHAR(190), kind VARCHAR(20), notify TINYINT, at DATETIME(6)
	)""",
)


class MariaDBAlertSink:
	def __init__(self, connect_kwargs: dict) -> None:
		self.conn = pymysql.connect(**connect_kwargs, autocommit=False)
		with self.conn.cursor() as cur:
			for ddl in DDL:
				cur.execute(ddl)
		self.conn.commit()

	def store(self, transitions: list[Transition]) -> int:
		"""Store a batch in one transaction; returns how many transitions were new."""
		new = 0
		with self.conn.cursor() as cur:
			for t in transitions:
				a = t.alert
				added = cur.execute(
					"INSERT IGNORE INTO ops_alert_transition (name, alert, kind, notify, at) VALUES (%s, %s, %s, %s, %s)",
					(t.id, a.incident, t.kind.value, int(t.notify), t.at.replace(tzinfo=None)),
				)
				if not added:
					continue
				new += 1
				cur.execute(
					"""INSERT INTO ops_alert (name, rule, subject, status, severity, value, trigger_value, runbook,
					  acknowledged_by, transitions) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1)
					ON DUPLICATE KEY UPDATE status = VALUES(status), value = VALUES(value),
					  trigger_value = VALUES(trigger_value), acknowledged_by = VALUES(acknowledged_by),
					  transitions = transitions + 1""",
					(
						a.incident,
						a.rule,
						a.subject,
						a.status.value,
						a.severity.value,
						a.value,
						a.trigger_value,
						a.runbook,
						a.acknowledged_by,
					),
				)
		self.conn.commit()
		return new

	def rows(self, table: str) -> list[dict]:
		with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
			cur.execute(f"SELECT * FROM {table} ORDER BY name")
			rows = list(cur.fetchall())
		self.conn.commit()
		return rows

	def close(self) -> None:
		self.conn.close()
