"""Count a client's round trips to Redis: each send of packed commands is one (a pipeline is one)."""

from redis import Redis
from redis.connection import Connection, ConnectionPool


class CountingConnection(Connection):
	sends = 0

	def send_packed_command(self, command, check_health=True):
		type(self).sends += 1
		return super().send_packed_command(command, check_health)


def counting_client(url: str) -> tuple[Redis, type[CountingConnection]]:
	"""A client whose round trips are counted in the returned class's `sends` (reset it to 0)."""
	counter = type("Counter", (CountingConnection,), {"sends": 0})
	pool = ConnectionPool.from_url(url, connection_class=counter)
	return Redis(connection_pool=pool), counter
