"""Observe Redis from the outside: a full dump of a database and the commands one client sent."""

import threading
import time

from redis import Redis


def dump_db(conn: Redis) -> dict[bytes, tuple]:
	"""Every key with its type, content and whether it expires: equal dumps, equal data."""
	readers = {
		b"string": conn.get,
		b"hash": conn.hgetall,
		b"list": lambda k: conn.lrange(k, 0, -1),
		b"set": conn.smembers,
		b"zset": lambda k: conn.zrange(k, 0, -1, withscores=True),
		b"stream": lambda k: conn.xrange(k),
	}
	state = {}
	for key in conn.scan_iter(count=1000):
		kind = conn.type(key)
		state[key] = (kind, readers[kind](key), conn.pttl(key) >= 0)
	return state


class CommandCounter:
	"""Count the commands Redis received from one connection, through MONITOR.

	The client must use a single socket (a pool of one) so its client address identifies it in the
	MONITOR stream; `rounds` counts the distinct network writes (pipelines arrive together).
	"""

	def __init__(self, monitor_conn: Redis, client: Redis):
		self.monitor_conn = monitor_conn
		self.client = client
		self.commands: list[str] = []
		# commands run by Lua scripts in the client's database (MONITOR shows them as client "lua")
		self.script_commands: list[str] = []
		self.db = client.connection_pool.connection_kwargs.get("db", 0)
		self._stop = threading.Event()
		self._ready = threading.Event()

	def _client_addr(self) -> str:
		info = self.client.client_info()
		return info["addr"]

	def __enter__(self):
		self.addr = self._client_addr()
		self._thread = threading.Thread(target=self._run, daemon=True)
		self._thread.start()
		self._ready.wait(5)
		time.sleep(0.05)
		return self

	def _run(self):
		with self.monitor_conn.monitor() as m:
			self._ready.set()
			for event in m.listen():
				if self._stop.is_set() and event["command"].startswith("ECHO erp_ops-probe-end"):
					break
				if (
					event.get("client_address")
					and f"{event['client_address']}:{event['client_port']}" == self.addr
				):
					self.commands.append(event["command"])
				elif event.get("client_type") == "lua" and int(event.get("db", -1)) == int(self.db):
					self.script_commands.append(event["command"])

	def __exit__(self, *exc):
		self._stop.set()
		self.monitor_conn.echo("erp_ops-probe-end")
		self._thread.join(5)
		# drop the CLIENT INFO the counter itself may have sent on this connection
		self.commands = [c for c in self.commands if not c.upper().startswith("CLIENT")]
		return False
