"""Search ranking: expected top results over the seeded runbooks and over hand-made ones."""

import json
import time

import pytest

from erp_ops.core.runbooks.errors import InvalidIndex
from erp_ops.core.runbooks.models import Runbook
from erp_ops.core.runbooks.search import SearchIndex, query_terms, tokenize
from erp_ops.core.runbooks.seed import load_runbooks


def rb(name: str, title: str, **fields) -> Runbook:
	return Runbook(name=name, title=title, area=fields.pop("area", "Queues"), **fields)


@pytest.fixture(scope="module")
def seeded() -> SearchIndex:
	return SearchIndex.build(load_runbooks())


def top(index: SearchIndex, query: str, n: int = 1, **kw) -> list[str]:
	return [h.name for h in index.search(query, n, **kw)]


def test_tokenizer_keeps_code_whole_and_in_parts():
	assert tokenize("bench --site site1.local doctor") == [
		"bench",
		"site",
		"site1.local",
		"site1",
		"local",
		"doctor",
	]
	assert tokenize("frappe.enqueue") == ["frappe.enqueue", "frappe", "enqueue"]
	assert tokenize("bench-x:long") == ["bench-x:long", "bench", "x", "long"]
	assert tokenize("enable_scheduler") == ["enable_scheduler", "enable", "scheduler"]
	assert tokenize("JobTimeoutException") == ["jobtimeoutexception", "job", "timeout", "exception"]
	# Stop words go, plurals become singular, case folds, punctuation separates.
	assert tokenize("The Queues are growing, workers DIED.") == ["queue", "growing", "worker", "died"]
	assert query_terms("queue queues Queue") == ["queue"]


@pytest.mark.parametrize(
	"query, expected",
	[
		("queue backlog", "RB-QUEUE-BACKLOG"),
		("jobs waiting in queue", "RB-QUEUE-BACKLOG"),
		("worker out of memory", "RB-WORKER-DOWN"),
		("oom", "RB-WORKER-DOWN"),
		("dead worker", "RB-WORKER-DOWN"),
		("scheduler inactive", "RB-SCHEDULER-INACTIVE"),
		("enable-scheduler", "RB-SCHEDULER-INACTIVE"),
		("bench --site S enable-scheduler", "RB-SCHEDULER-INACTIVE"),
		("JobTimeoutException", "RB-JOB-TIMEOUT"),
		("job timeout", "RB-JOB-TIMEOUT"),
		("poison job", "RB-POISON-JOB"),
		("quarantine", "RB-POISON-JOB"),
		("patch failed during migrate", "RB-MIGRATE-FAILED"),
		("restore drill", "RB-RESTORE-DRILL-FAILED"),
		("disk full", "RB-DISK-HEADROOM"),
		("no space left on device", "RB-DISK-HEADROOM"),
		("integration conflict storm", "RB-INTEGRATION-CONFLICTS"),
	],
)
def test_seeded_runbooks_rank_first_for_their_words(seeded, query, expected):
	assert top(seeded, query) == [expected], seeded.search(query, 3)


@pytest.mark.parametrize(
	"query, expected",
	[("migr", "RB-MIGRATE-FAILED"), ("quaran", "RB-POISON-JOB"), ("schedul", "RB-SCHEDULER-INACTIVE")],
)
def test_prefixes_find_what_the_whole_word_finds(seeded, query, expected):
	assert top(seeded, query) == [expected]
	assert top(seeded, query, prefix=False) == []


def test_title_outranks_steps_and_exact_outranks_prefix():
	# Same field lengths everywhere; only the field holding the word differs.
	def doc(name: str, where: str, title: str = "Plain title") -> Runbook:
		text = {f: "alpha beta gamma" for f in ("title", "symptoms", "steps", "impact")}
		text[where] = "alpha frobnicator gamma"
		step = {"action": text["steps"], "expected_result": "delta", "verify": "epsilon"}
		return rb(
			name,
			title if where != "title" else text["title"],
			symptoms=text["symptoms"],
			steps=[step],
			impact=text["impact"],
		)

	index = SearchIndex.build(
		[
			doc("in-steps", "steps"),
			doc("in-title", "title"),
			doc("in-symptoms", "symptoms"),
			doc("in-rest", "impact"),
		]
		+ [doc(f"filler-{i}", "impact", title="Nothing here") for i in range(20)]
	)
	names = top(index, "frobnicator", 30)
	assert names[:3] == ["in-title", "in-symptoms", "in-steps"]
	assert "in-rest" in names[3:]
	# `frobnicatorial` only matches by prefix: scored, but below an exact match in the same field.
	prefix_only = SearchIndex.build([rb("a", "Frobnicatorial"), rb("b", "Frobnicator")])
	assert top(prefix_only, "frobnicator", 2) == ["b", "a"]


def test_all_terms_beat_some_terms_and_ties_break_by_name():
	index = SearchIndex.build(
		[
			rb("z-both", "Redis memory"),
			rb("a-redis", "Redis"),
			rb("b-memory", "Memory"),
			rb("c-redis", "Redis"),
		]
	)
	hits = index.search("redis memory", 10)
	assert hits[0].name == "z-both"
	assert hits[0].matched == ["redis", "memory"]
	same = SearchIndex.build([rb(n, "Same title") for n in ("c", "a", "b")])
	assert top(same, "same", 3) == ["a", "b", "c"]
	assert len({h.score for h in same.search("same", 3)}) == 1


def test_filters_and_limits(seeded):
	assert top(seeded, "bench", 20, areas=["Scheduler"]) == ["RB-SCHEDULER-INACTIVE"]
	assert top(seeded, "bench", 20, statuses=["Retired"]) == []
	assert len(seeded.search("bench", 2)) == 2
	assert seeded.search("", 5) == [] and seeded.search("the of and", 5) == []
	assert seeded.search("bench", 0) == []


def test_incremental_add_update_remove_equals_a_fresh_build():
	runbooks = load_runbooks()
	index = SearchIndex.build(runbooks[:3])
	for r in runbooks[3:]:
		index.add(r)
	fresh = SearchIndex.build(runbooks)
	for query in ("worker", "queue backlog", "disk", "bench --site", "schedul"):
		assert [(h.name, round(h.score, 6)) for h in index.search(query, 9)] == [
			(h.name, round(h.score, 6)) for h in fresh.search(query, 9)
		]
	# Update: the new text is found, the old is gone.
	changed = rb(runbooks[0].name, "Zebra crossing")
	index.update(changed)
	assert top(index, "zebra") == [changed.name]
	assert changed.name not in top(index, "backlog", 9)
	assert len(index) == len(runbooks)
	assert index.remove(changed.name) is True
	assert index.remove(changed.name) is False
	assert top(index, "zebra") == []
	assert len(index) == len(runbooks) - 1
	# A removed slot is reused and nothing of the old runbook leaks into the new one.
	index.add(rb("new-one", "Fresh entry"))
	assert top(index, "zebra") == [] and top(index, "fresh") == ["new-one"]


def test_plain_dicts_are_indexed_like_models():
	data = json.loads(json.dumps([r.model_dump(mode="json") for r in load_runbooks()]))
	from_dicts = SearchIndex.build(data)
	assert top(from_dicts, "worker oom") == ["RB-WORKER-DOWN"]


def test_serialized_index_answers_the_same(seeded):
	text = seeded.to_json()
	again = SearchIndex.from_json(text)
	for query in ("worker oom", "disk full", "migr", "frappe.enqueue"):
		assert again.search(query, 5) == seeded.search(query, 5)
	assert again.to_json() == text
	bad = json.loads(text)
	bad["tokenizer"] = 0
	with pytest.raises(InvalidIndex):
		SearchIndex.from_dict(bad)
	with pytest.raises(InvalidIndex):
		SearchIndex.from_json("{not json")
	damaged = json.loads(text)
	damaged["docs"][0]["tf"] = damaged["docs"][0]["tf"][:-1]
	with pytest.raises(InvalidIndex, match="counts"):
		SearchIndex.from_dict(damaged)
	del damaged["docs"][0]["tf"]
	with pytest.raises(InvalidIndex):
		SearchIndex.from_dict(damaged)
	assert InvalidIndex.http_status == 422


def test_short_prefix_does_not_expand_and_expansions_are_capped():
	words = [f"al{a}{b}" for a in "bcdefghijklmnopqrst" for b in "bcdefghijklmnopqrstu"]
	index = SearchIndex.build([rb(f"r{i:03d}", f"Term {w}") for i, w in enumerate(words)])
	assert len(words) == 380
	# "a" alone is too short to expand; "al" expands to at most MAX_EXPANSIONS terms.
	assert index.search("a", 5) == []
	started = time.perf_counter()
	hits = index.search("al", 500)
	assert (time.perf_counter() - started) < 1.0
	assert 0 < len(hits) <= 128
