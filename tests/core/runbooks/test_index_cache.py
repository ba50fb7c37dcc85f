"""The search index shared through a real Redis and kept per process between changes."""

from erp_ops.core.runbooks.index_cache import RunbookIndexCache
from erp_ops.core.runbooks.models import Runbook
from erp_ops.core.runbooks.seed import load_runbooks

SCOPE = "site1.local"


class Table:
	"""Stands in for the Runbook DocType: what the loader reads, and how often."""

	def __init__(self) -> None:
		self.rows = {rb.name: rb for rb in load_runbooks()}
		self.reads = 0

	def load(self) -> list[Runbook]:
		self.reads += 1
		return list(self.rows.values())


def test_one_build_then_loads_from_redis_and_memory(redis_conn):
	table = Table()
	first = RunbookIndexCache(redis_conn, SCOPE, table.load)
	assert first.search("worker oom", 1)[0].name == "RB-WORKER-DOWN"
	assert (first.builds, table.reads) == (1, 1)
	first.search("disk full")
	assert (first.builds, first.loads) == (1, 0)  # memory
	other = RunbookIndexCache(redis_conn, SCOPE, table.load)  # another worker process
	assert other.search("disk full", 1)[0].name == "RB-DISK-HEADROOM"
	assert (other.builds, other.loads, table.reads) == (0, 1, 1)
	assert redis_conn.ttl(first.key) > 0


def test_a_change_reaches_every_process_without_a_rebuild(redis_conn):
	table = Table()
	a = RunbookIndexCache(redis_conn, SCOPE, table.load)
	b = RunbookIndexCache(redis_conn, SCOPE, table.load)
	a.search("x"), b.search("x")
	new = Runbook(name="RB-ZEBRA", title="Zebra crossing stuck", area="Integrations")
	table.rows[new.name] = new
	a.apply(upsert=new)
	assert [h.name for h in a.search("zebra")] == ["RB-ZEBRA"]
	assert [h.name for h in b.search("zebra")] == ["RB-ZEBRA"]
	del table.rows["RB-DISK-HEADROOM"]
	b.apply(remove="RB-DISK-HEADROOM")
	assert "RB-DISK-HEADROOM" not in [h.name for h in a.search("disk", 20)]
	assert table.reads == 1  # one build in all


class RacedCache(RunbookIndexCache):
	"""Runs `meanwhile` right after reading its copy: another process's change lands in the window."""

	meanwhile = None

	def index(self):
		index = super().index()
		if self.meanwhile:
			meanwhile, self.meanwhile = self.meanwhile, None
			meanwhile()
		return index


def test_a_raced_change_falls_back_to_a_rebuild(redis_conn):
	table = Table()
	a = RunbookIndexCache(redis_conn, SCOPE, table.load)
	b = RacedCache(redis_conn, SCOPE, table.load)
	a.search("x"), b.search("x")
	one = Runbook(name="RB-ONE", title="Frobnicator one", area="Queues")
	two = Runbook(name="RB-TWO", title="Frobnicator two", area="Queues")
	table.rows[one.name] = one
	table.rows[two.name] = two

	b.meanwhile = lambda: a.apply(upsert=one)
	b.apply(upsert=two)  # b's copy predates a's change: it must not be shared as current
	reads = table.reads
	assert sorted(h.name for h in b.search("frobnicator")) == ["RB-ONE", "RB-TWO"]
	assert sorted(h.name for h in a.search("frobnicator")) == ["RB-ONE", "RB-TWO"]
	assert table.reads == reads + 1  # rebuilt once, then shared


def test_invalidate_and_a_damaged_copy_rebuild(redis_conn):
	table = Table()
	cache = RunbookIndexCache(redis_conn, SCOPE, table.load)
	cache.search("x")
	cache.invalidate()
	cache.search("x")
	assert table.reads == 2
	redis_conn.hset(cache.key, "data", b"not zlib")
	fresh = RunbookIndexCache(redis_conn, SCOPE, table.load)
	assert fresh.search("poison", 1)[0].name == "RB-POISON-JOB"
	assert table.reads == 3
