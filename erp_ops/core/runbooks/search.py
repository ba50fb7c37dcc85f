"""Ranked full-text search over runbooks: BM25F with field weights and prefix matching.

Field weights: title > symptoms, tags > steps > the rest (area, impact, diagnosis, escalation,
rollback). Each posting keeps the term's BM25F weight for one runbook, already saturated, so a
query costs one multiplication per posting. That weight depends on the average field lengths; they
are frozen at the last reweigh and all weights are recomputed when any average drifts more than
`REWEIGH_DRIFT` (a handful of edits never do; a bulk import does once).

A query term matches the indexed terms it equals and, from `MIN_PREFIX` characters on, those it
starts with (a sorted vocabulary and bisect find them). A prefix match scores less than an exact
one, the less the more of the term is missing; a runbook takes, per query term, its best match.
Per query term the IDF is that of every runbook the term reaches (exactly or by prefix). The sum is scaled by the share of query terms matched, so runbooks that match every term come
first. Ties break on the runbook name, so results are stable.

The index serializes to JSON (`to_json`/`from_json`) from per-runbook term counts, so the Frappe
layer can cache it in Redis and a restart costs no tokenizing.
"""

import gc
import heapq
import json
import math
import re
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import add, mul
from typing import Any

from erp_ops.core.models import Frozen
from erp_ops.core.runbooks.errors import InvalidIndex
from erp_ops.core.runbooks.models import Runbook

FIELDS = ("title", "symptoms", "tags", "steps", "rest")
DEFAULT_WEIGHTS: dict[str, float] = {"title": 4.0, "symptoms": 2.0, "tags": 2.0, "steps": 1.2, "rest": 1.0}
# Length normalisation per field: titles and tag lists are short by nature; do not punish a long one much.
FIELD_B: dict[str, float] = {"title": 0.4, "symptoms": 0.75, "tags": 0.3, "steps": 0.75, "rest": 0.75}
K1 = 1.2
MIN_PREFIX = 2
PREFIX_FACTOR = 0.7
MAX_EXPANSIONS = 128
MAX_EXPANSION_POSTINGS = 20_000
# A term touching this share of the runbooks is scored as a dense vector (C-level map passes).
DENSE_SHARE = 0.125
DENSE_MIN = 256
DENSE_CACHE = 256
REWEIGH_DRIFT = 0.1
FORMAT = 3
TOKENIZER_VERSION = 1
COMPOUND_MAX = 64
STEM_CACHE = 200_000
_STEMS: dict[str, str] = {}

STOP_WORDS = frozenset(
	"a an and are as at be by for from has have if in into is it its of on or s so than that the then "
	"there this to was were when where which while will with".split()
)
_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:/\-]*[A-Za-z0-9])?")
_SEPARATORS = re.compile(r"[_.:/\-]+")
# Splits on case changes only: `site1`, `utf8mb4` and `v15` stay whole.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*|[0-9]+")


TermScores = dict[int, float] | Sequence[float]


class SearchHit(Frozen):
	name: str
	title: str
	score: float
	area: str | None = None
	status: str | None = None
	severity: str | None = None
	matched: list[str] = []


def stem(word: str) -> str:
	"""Plural to singular only: predictable, and prefix matching covers the other endings."""
	cached = _STEMS.get(word)
	if cached is not None:
		return cached
	out = word
	if len(word) > 4 and word.endswith("ies"):
		out = word[:-3] + "y"
	elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
		out = word[:-1]
	if len(_STEMS) >= STEM_CACHE:
		_STEMS.clear()  # bounded: a huge vocabulary only costs recomputation
	_STEMS[word] = out
	return out


def tokenize(text: str) -> list[str]:
	"""Terms of `text`, code-aware.

	`frappe.enqueue`, `bench-x:long`, `enable_scheduler`, `JobTimeoutException` are kept whole
	(lowercased) and also split into their parts, so both the exact name and any part find them;
	`--site` is `site`. Stop words go; plurals become singular; numbers stay.
	"""
	out: list[str] = []
	for compound, parts in token_groups(text):
		if compound:
			out.append(compound)
		out.extend(parts)
	return out


def token_groups(text: str) -> list[tuple[str | None, list[str]]]:
	"""Per word of `text`: the whole code-ish word (None for a plain word) and its terms."""
	out: list[tuple[str | None, list[str]]] = []
	for raw in _TOKEN.findall(text):
		lowered = raw.lower()
		# Fast path for plain words (most of any text): no separators and no inner case change.
		if raw.isalnum() and (raw[1:].islower() or raw.isupper() or raw.isdigit()):
			if lowered not in STOP_WORDS:
				out.append((None, [stem(lowered)]))
			continue
		parts = [p.lower() for chunk in _SEPARATORS.split(raw) if chunk for p in _CAMEL.findall(chunk)]
		if len(parts) > 1:
			compound = lowered if len(lowered) <= COMPOUND_MAX else None
			out.append((compound, [stem(p) for p in parts if p not in STOP_WORDS]))
		elif lowered not in STOP_WORDS:
			out.append((None, [stem(lowered)]))
	return out


def query_terms(query: str) -> list[str]:
	"""The distinct terms of a query, in order."""
	return list(dict.fromkeys(tokenize(query)))


class SearchIndex:
	"""An incremental BM25F index of runbooks; `add` replaces a runbook of the same name."""

	def __init__(self, weights: Mapping[str, float] | None = None) -> None:
		self.weights = tuple(float((weights or DEFAULT_WEIGHTS).get(f, DEFAULT_WEIGHTS[f])) for f in FIELDS)
		self._b = tuple(FIELD_B[f] for f in FIELDS)
		self._slot: dict[str, int] = {}
		self._names: list[str | None] = []
		self._free: list[int] = []
		self._terms: list[dict[str, Sequence[int]] | None] = []
		self._lens: list[tuple[int, ...] | None] = []
		self._meta: list[dict[str, str | None] | None] = []
		self._postings: dict[str, dict[int, float]] = {}
		self._len_sums = [0] * len(FIELDS)
		self._ref_avg: tuple[float, ...] | None = None
		self._vocab: list[str] = []
		self._vocab_dirty = False
		self._dense: OrderedDict[str, array] = OrderedDict()

	def __len__(self) -> int:
		return len(self._slot)

	def __contains__(self, name: str) -> bool:
		return name in self._slot

	@classmethod
	def build(
		cls, runbooks: Iterable[Runbook | Mapping[str, Any]], weights: Mapping[str, float] | None = None
	) -> "SearchIndex":
		"""An index of all `runbooks`, weighed once at the end."""
		index = cls(weights)
		with _gc_paused():
			for runbook in runbooks:
				rb = _as_runbook(runbook)
				index._insert(rb.name, _field_counts(rb), _meta(rb), weigh=False)
			index._reweigh()
		return index

	def add(self, runbook: Runbook | Mapping[str, Any]) -> None:
		"""Index a runbook, replacing the one of the same name."""
		rb = _as_runbook(runbook)
		self.remove(rb.name)
		self._insert(rb.name, _field_counts(rb), _meta(rb), weigh=True)

	update = add

	def remove(self, name: str) -> bool:
		"""Drop a runbook; False when it was not indexed."""
		slot = self._slot.pop(name, None)
		if slot is None:
			return False
		for term in self._terms[slot] or {}:
			self._dense.pop(term, None)
			postings = self._postings[term]
			del postings[slot]
			if not postings:
				del self._postings[term]
				self._vocab_dirty = True
		for i, n in enumerate(self._lens[slot] or ()):
			self._len_sums[i] -= n
		self._names[slot] = self._terms[slot] = self._lens[slot] = self._meta[slot] = None
		self._free.append(slot)
		return True

	def search(
		self,
		query: str,
		limit: int = 20,
		*,
		areas: Iterable[str] | None = None,
		statuses: Iterable[str] | None = None,
		prefix: bool = True,
	) -> list[SearchHit]:
		"""The best `limit` runbooks for `query`, best first; equal scores in name order."""
		terms = self._query_terms(query)
		if not terms or not self._slot or limit <= 0:
			return []
		self._maybe_reweigh()
		n_docs, n_slots = len(self._slot), len(self._names)
		totals = [0.0] * n_slots
		counts = [0] * n_slots
		per_term: list[tuple[str, TermScores]] = []
		for term in terms:
			scores, df = self._term_scores(term, prefix, n_slots)
			if not df:
				continue
			# One IDF for the term and all its completions: the share of runbooks it reaches. A rare
			# completion must not outscore the exact word because it happens to be rare.
			idf = _idf(n_docs, df)
			if isinstance(scores, dict):
				for slot, weight in scores.items():
					totals[slot] += weight * idf
					counts[slot] += 1
			else:  # dense: C-level passes over the whole vector instead of a loop per posting
				totals = list(map(add, totals, map(mul, scores, repeat(idf))))
				counts = list(map(add, counts, map(bool, scores)))
			per_term.append((term, scores))
		n_terms = len(terms)
		# Coordination: a runbook that matches every query term outranks one that matches some.
		final = list(map(mul, totals, counts)) if n_terms > 1 else totals
		if areas is not None or statuses is not None:
			area_set = set(areas) if areas is not None else None
			status_set = set(statuses) if statuses is not None else None
			for slot, meta in enumerate(self._meta):
				if final[slot] and (
					(area_set is not None and (meta or {}).get("area") not in area_set)
					or (status_set is not None and (meta or {}).get("status") not in status_set)
				):
					final[slot] = 0.0
		kth = heapq.nlargest(limit, final)[-1]
		# The k-th best score bounds the candidates; only those are sorted, by score rounded (so
		# float noise never decides an order) and then by name (so equal scores are stable).
		floor = max(round(kth / n_terms, 9) - 1e-9, 1e-12)
		candidates = [
			(-round(score / n_terms, 9), self._names[slot], slot)
			for slot, score in enumerate(final)
			if score and score / n_terms >= floor
		]
		candidates.sort()
		return [
			self._hit(slot, -neg, [term for term, scores in per_term if _has(scores, slot)])
			for neg, _name, slot in candidates[:limit]
		]

	def _term_scores(self, term: str, prefix: bool, n_slots: int) -> tuple["TermScores", int]:
		"""Per runbook, the best weight of `term` or of a completion (times its prefix factor).

		Sparse (a dict) for rare terms, dense (a vector over slots) once the postings touched
		reach `DENSE_SHARE` of the runbooks; the second value is how many runbooks match.
		"""
		expansions = self._expand(term, prefix)
		touched = sum(len(self._postings[t]) for t, _f in expansions)
		if not expansions:
			return {}, 0
		if touched < max(DENSE_MIN, n_slots * DENSE_SHARE):
			best: dict[int, float] = {}
			for candidate, factor in expansions:
				get = best.get
				for slot, weight in self._postings[candidate].items():
					score = weight * factor
					if score > get(slot, 0.0):
						best[slot] = score
			return best, len(best)
		vector: Sequence[float] | None = None
		for candidate, factor in expansions:
			postings = self._postings[candidate]
			if len(postings) >= max(DENSE_MIN, n_slots * DENSE_SHARE):
				dense = self._dense_vector(candidate, n_slots)
				scaled = dense if factor == 1.0 else map(mul, dense, repeat(factor))
				vector = list(scaled) if vector is None else list(map(max, vector, scaled))
			else:
				if vector is None:
					vector = [0.0] * n_slots
				elif not isinstance(vector, list):
					vector = list(vector)
				for slot, weight in postings.items():
					score = weight * factor
					if score > vector[slot]:
						vector[slot] = score
		assert vector is not None
		return vector, n_slots - vector.count(0.0)

	def _dense_vector(self, term: str, n_slots: int) -> array:
		"""A frequent term's weights as a vector over slots, cached (LRU) until the term changes."""
		cached = self._dense.get(term)
		if cached is not None and len(cached) == n_slots:
			self._dense.move_to_end(term)
			return cached
		vector = array("d", bytes(8 * n_slots))
		for slot, weight in self._postings[term].items():
			vector[slot] = weight
		self._dense[term] = vector
		if len(self._dense) > DENSE_CACHE:
			self._dense.popitem(last=False)
		return vector

	def _hit(self, slot: int, score: float, matched: list[str]) -> SearchHit:
		meta = self._meta[slot] or {}
		name = self._names[slot] or ""
		return SearchHit(
			name=name,
			title=meta.get("title") or name,
			score=score,
			area=meta.get("area"),
			status=meta.get("status"),
			severity=meta.get("severity"),
			matched=matched,
		)

	def _best_matches(self, term: str, prefix: bool) -> dict[int, float]:
		"""Per runbook, the best weight of `term` or of a completion of it (times its prefix factor)."""
		expansions = self._expand(term, prefix)
		if not expansions:
			return {}
		first, factor = expansions[0]
		if factor == 1.0 and len(expansions) == 1:
			return self._postings[first]  # read only: the common case costs no copy
		best = {slot: weight * factor for slot, weight in self._postings[first].items()}
		for candidate, factor in expansions[1:]:
			get = best.get
			for slot, weight in self._postings[candidate].items():
				score = weight * factor
				if score > get(slot, 0.0):
					best[slot] = score
		return best

	# --- serialization ------------------------------------------------------------------------

	def to_dict(self) -> dict[str, Any]:
		"""Plain data: per runbook its metadata, field lengths and term counts."""
		docs = []
		for name, slot in sorted(self._slot.items()):
			docs.append(
				{
					"name": name,
					"meta": self._meta[slot],
					# Terms, then their per-field counts flattened: decoded by C-level zips, not loops.
					"terms": list(terms := self._terms[slot] or {}),
					"tf": [n for tf in terms.values() for n in tf],
				}
			)
		return {
			"format": FORMAT,
			"tokenizer": TOKENIZER_VERSION,
			"fields": list(FIELDS),
			"weights": list(self.weights),
			"docs": docs,
		}

	@classmethod
	def from_dict(cls, data: Mapping[str, Any]) -> "SearchIndex":
		"""Rebuild from `to_dict`; raises InvalidIndex when made by another format or tokenizer."""
		if (
			not isinstance(data, Mapping)
			or data.get("format") != FORMAT
			or data.get("tokenizer") != TOKENIZER_VERSION
			or data.get("fields") != list(FIELDS)
		):
			raise InvalidIndex("the serialized index is of another format or tokenizer version: rebuild it")
		index = cls(dict(zip(FIELDS, data["weights"], strict=True)))
		width = len(FIELDS)
		with _gc_paused():
			try:
				for doc in data["docs"]:
					names, flat = doc["terms"], doc["tf"]
					if len(flat) != width * len(names):
						raise ValueError(f"{doc['name']}: {len(flat)} counts for {len(names)} terms")
					lens = tuple(sum(flat[i::width]) for i in range(width))
					terms = dict(zip(names, zip(*[iter(flat)] * width, strict=False), strict=True))
					index._insert(doc["name"], (lens, terms), doc["meta"], weigh=False)
			except (KeyError, TypeError, ValueError, AttributeError) as e:
				raise InvalidIndex(f"the serialized index is damaged: {e}") from e
			index._reweigh()
		return index

	def to_json(self) -> str:
		return json.dumps(self.to_dict(), separators=(",", ":"))

	@classmethod
	def from_json(cls, text: str | bytes) -> "SearchIndex":
		try:
			data = json.loads(text)
		except ValueError as e:
			raise InvalidIndex(f"the serialized index is not JSON: {e}") from e
		return cls.from_dict(data)

	# --- internals ----------------------------------------------------------------------------

	def _insert(
		self,
		name: str,
		counts: tuple[tuple[int, ...], dict[str, Sequence[int]]],
		meta: dict[str, str | None],
		*,
		weigh: bool,
	) -> None:
		lens, terms = counts
		if self._free:
			slot = self._free.pop()
			self._names[slot], self._terms[slot], self._lens[slot], self._meta[slot] = name, terms, lens, meta
		else:
			slot = len(self._names)
			self._names.append(name)
			self._terms.append(terms)
			self._lens.append(lens)
			self._meta.append(meta)
		self._slot[name] = slot
		for i, n in enumerate(lens):
			self._len_sums[i] += n
		if weigh and self._ref_avg is None:
			self._ref_avg = self._averages()
		for term in terms:
			self._dense.pop(term, None)
			postings = self._postings.get(term)
			if postings is None:
				postings = self._postings[term] = {}
				self._vocab_dirty = True
			postings[slot] = 0.0
		if weigh:
			self._weigh_doc(slot)

	def _averages(self) -> tuple[float, ...]:
		n = max(len(self._slot), 1)
		return tuple(total / n for total in self._len_sums)

	def _coefficients(self, lens: tuple[int, ...]) -> tuple[float, ...]:
		"""Per field, weight / length normalisation: a term's pseudo-frequency is sum(tf * coef)."""
		avg = self._ref_avg or self._averages()
		return tuple(
			w / (1.0 - b + b * (n / a)) if a > 0 else w
			for w, b, n, a in zip(self.weights, self._b, lens, avg, strict=True)
		)

	def _weigh_doc(self, slot: int) -> None:
		# Unrolled over the five fields: this runs once per posting on every (re)weigh.
		c0, c1, c2, c3, c4 = self._coefficients(self._lens[slot] or (0,) * len(FIELDS))
		postings, k1, k1p1 = self._postings, K1, K1 + 1.0
		for term, tf in (self._terms[slot] or {}).items():
			pseudo = tf[0] * c0 + tf[1] * c1 + tf[2] * c2 + tf[3] * c3 + tf[4] * c4
			postings[term][slot] = pseudo * k1p1 / (pseudo + k1)

	def _reweigh(self) -> None:
		self._dense.clear()
		self._ref_avg = self._averages()
		for slot in self._slot.values():
			self._weigh_doc(slot)

	def _maybe_reweigh(self) -> None:
		current = self._averages()
		ref = self._ref_avg or current
		if any(abs(c - r) > REWEIGH_DRIFT * max(r, 1.0) for c, r in zip(current, ref, strict=True)):
			self._reweigh()

	def _query_terms(self, query: str) -> list[str]:
		"""Query terms; a code-ish word found whole in the index is searched whole, not by parts.

		Every runbook holding `frappe.enqueue` also holds `frappe` and `enqueue`: the parts would
		only cost time and dilute the exact match. Unknown compounds (another site's name, a
		half-typed `frappe.enq`) fall back to their parts and to prefix completion.
		"""
		terms: list[str] = []
		for compound, parts in token_groups(query):
			if compound and compound in self._postings:
				terms.append(compound)
				continue
			if compound:
				terms.append(compound)
			terms.extend(parts)
		return list(dict.fromkeys(terms))

	def _expand(self, term: str, prefix: bool) -> list[tuple[str, float]]:
		"""Indexed terms that answer `term`, with the factor their score is multiplied by."""
		out = [(term, 1.0)] if term in self._postings else []
		if not prefix or len(term) < MIN_PREFIX:
			return out
		if self._vocab_dirty:
			self._vocab = sorted(self._postings)
			self._vocab_dirty = False
		extensions = []
		i = bisect_left(self._vocab, term)
		while i < len(self._vocab) and self._vocab[i].startswith(term):
			if self._vocab[i] != term:
				extensions.append(self._vocab[i])
			i += 1
		# The closest completions first, so the caps drop the least likely ones; the postings cap
		# bounds the work of a short prefix of common words.
		extensions.sort(key=lambda t: (len(t), t))
		budget = MAX_EXPANSION_POSTINGS
		for candidate in extensions[:MAX_EXPANSIONS]:
			budget -= len(self._postings[candidate])
			if budget < 0 and len(out) > 1:
				break
			out.append((candidate, PREFIX_FACTOR * math.sqrt(len(term) / len(candidate))))
		return out


def _has(scores: TermScores, slot: int) -> bool:
	return slot in scores if isinstance(scores, dict) else bool(scores[slot])


@contextmanager
def _gc_paused() -> Iterator[None]:
	"""Bulk loads create millions of small containers and make no cycles: full collections in the
	middle would rescan them all, several times (measured: build 2-3x slower)."""
	enabled = gc.isenabled()
	gc.disable()
	try:
		yield
	finally:
		if enabled:
			gc.enable()


def _idf(n_docs: int, df: int) -> float:
	return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def _as_runbook(runbook: Runbook | Mapping[str, Any]) -> Runbook:
	return runbook if isinstance(runbook, Runbook) else Runbook.model_validate(runbook)


def _field_counts(rb: Runbook) -> tuple[tuple[int, ...], dict[str, Sequence[int]]]:
	fields = rb.search_fields()
	return _merge_fields([Counter(tokenize(fields[f])) for f in FIELDS])


def _merge_fields(per_field: list[Mapping[str, int]]) -> tuple[tuple[int, ...], dict[str, Sequence[int]]]:
	"""Field lengths, and per term its count in each field."""
	lens = tuple(sum(c.values()) for c in per_field)
	terms: dict[str, Sequence[int]] = {}
	width = len(per_field)
	for i, counts in enumerate(per_field):
		for term, n in counts.items():
			tf = terms.get(term)
			if tf is None:
				tf = terms[term] = [0] * width
			tf[i] = n
	return lens, terms


def _meta(rb: Runbook) -> dict[str, str | None]:
	return {
		"title": rb.title,
		"area": rb.area.value,
		"status": rb.status.value,
		"severity": rb.severity.value,
	}
