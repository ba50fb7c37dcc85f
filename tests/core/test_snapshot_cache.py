"""Many dashboards within the cache window cost one read: a hit is one GET and no site facts."""

from datetime import datetime

from redis import BlockingConnectionPool, Redis

from erp_ops.core.signals import snapshot
from erp_ops.core.signals.models import SiteSchedulerFacts
from tests.support.redis_probe import CommandCounter
from tests.support.rq_helpers import enqueue

BENCH = "bench-cache"


def test_a_cache_hit_is_one_get_and_skips_the_site_facts(redis_conn, redis_url):
	enqueue(redis_conn, BENCH, "short", "tests.support.frappe_like.work")
	calls = []

	def facts() -> list[SiteSchedulerFacts]:
		calls.append(1)
		return [SiteSchedulerFacts(site="site1.local", now=datetime(2026, 1, 1))]

	client = Redis(connection_pool=BlockingConnectionPool.from_url(redis_url, max_connections=1))
	first = snapshot(client, BENCH, sites=facts, cache_seconds=30)
	assert not first.cached and calls == [1]
	with CommandCounter(Redis.from_url(redis_url), client) as counter:
		second = snapshot(client, BENCH, sites=facts, cache_seconds=30)
	assert second.cached and calls == [1]
	assert [c.split()[0].upper() for c in counter.commands] == ["GET"]
	assert second.queue("short").queued == 1 and second.schedulers[0].site == "site1.local"
	# A fresh read bypasses the cache and sees the change.
	enqueue(redis_conn, BENCH, "short", "tests.support.frappe_like.work")
	assert snapshot(client, BENCH, sites=facts, cache_seconds=0).queue("short").queued == 2
	client.close()


def test_caches_are_scoped(redis_conn):
	a = snapshot(redis_conn, BENCH, cache_seconds=30, cache_scope="site:a")
	b = snapshot(redis_conn, BENCH, cache_seconds=30, cache_scope="site:b")
	assert not a.cached and not b.cached
	assert snapshot(redis_conn, BENCH, cache_seconds=30, cache_scope="site:a").cached
