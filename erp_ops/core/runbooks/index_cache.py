"""The search index shared through Redis, kept in each process's memory between changes.

    erp_ops:<scope>:runbook-index:gen    integer, INCR on every runbook change (no TTL)
    erp_ops:<scope>:runbook-index        hash {gen, data: zlib(JSON index)}, TTL 1 day

`<scope>` is the site: runbooks are per-site documents. A search costs one GET of the generation
when the process's copy is current; after a change, the first search in each process loads the
index from Redis (or builds it from the loader and stores it). The writer of a change applies it
to its own copy and stores that under the next generation in one WATCH/MULTI, so other processes
load instead of rebuilding; if anything raced, the generation still moves on and the next reader
rebuilds from the database: a stale index is never served past a change it was told about.
"""

import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from erp_ops.core.runbooks.errors import InvalidIndex
from erp_ops.core.runbooks.models import Runbook
from erp_ops.core.runbooks.search import SearchHit, SearchIndex

GENERATION = "erp_ops:{scope}:runbook-index:gen"
INDEX = "erp_ops:{scope}:runbook-index"
INDEX_TTL_S = 86400

Loader = Callable[[], Iterable[Runbook | Mapping[str, Any]]]


class RunbookIndexCache:
	"""One per process and scope; `loader` reads every runbook (the Frappe layer: the DocType)."""

	def __init__(self, conn: Redis, scope: str, loader: Loader) -> None:
		self.conn, self.scope, self.loader = conn, scope, loader
		self._index: SearchIndex | None = None
		self._generation: int | None = None
		self.builds = 0  # how often this process read every runbook: the expensive path
		self.loads = 0

	@property
	def gen_key(self) -> str:
		return GENERATION.format(scope=self.scope)

	@property
	def key(self) -> str:
		return INDEX.format(scope=self.scope)

	def index(self) -> SearchIndex:
		"""The current index: from memory, else Redis, else built from the loader."""
		generation = int(self.conn.get(self.gen_key) or 0)
		if self._index is not None and self._generation == generation:
			return self._index
		stored_gen, data = self.conn.hmget(self.key, "gen", "data")
		index = None
		if data is not None and stored_gen is not None and int(stored_gen) == generation:
			try:
				index = SearchIndex.from_json(zlib.decompress(data))
				self.loads += 1
			except (InvalidIndex, zlib.error):
				index = None  # another version's index, or damaged: rebuild below
		if index is None:
			index = SearchIndex.build(self.loader())
			self.builds += 1
			self._store(index, generation, expect=generation)
		self._index, self._generation = index, generation
		return index

	def search(self, query: str, limit: int = 20, **filters: Any) -> list[SearchHit]:
		return self.index().search(query, limit, **filters)

	def apply(self, upsert: Runbook | Mapping[str, Any] | None = None, remove: str | None = None) -> None:
		"""After a runbook was saved (`upsert`) or deleted (`remove`), committed: update, share, move on.

		The new generation and the index that includes the change are written in one MULTI,
		watched on the generation: if another change came in between, this copy may lack it, so
		it is dropped and the generation moves on (everyone rebuilds) instead.
		"""
		index = self.index()
		base = self._generation or 0
		if remove:
			index.remove(remove)
		if upsert is not None:
			index.add(upsert)
		data = zlib.compress(index.to_json().encode(), 1)
		with self.conn.pipeline(transaction=True) as pipe:
			try:
				pipe.watch(self.gen_key)
				if int(pipe.get(self.gen_key) or 0) == base:
					pipe.multi()
					pipe.incr(self.gen_key)
					pipe.hset(self.key, mapping={"gen": base + 1, "data": data})
					pipe.expire(self.key, INDEX_TTL_S)
					pipe.execute()
					self._generation = base + 1
					return
				pipe.unwatch()
			except WatchError:
				pass
		self.invalidate()

	def invalidate(self) -> int:
		"""Forget every copy: the next search anywhere rebuilds. Returns the new generation."""
		self._index = None
		return int(self.conn.incr(self.gen_key))

	def _store(self, index: SearchIndex, generation: int, *, expect: int) -> bool:
		"""Store the index for `generation` unless the generation moved meanwhile."""
		data = zlib.compress(index.to_json().encode(), 1)
		with self.conn.pipeline(transaction=True) as pipe:
			try:
				pipe.watch(self.gen_key)
				if int(pipe.get(self.gen_key) or 0) != expect:
					return False
				pipe.multi()
				pipe.hset(self.key, mapping={"gen": generation, "data": data})
				pipe.expire(self.key, INDEX_TTL_S)
				pipe.execute()
				return True
			except WatchError:
				return False
