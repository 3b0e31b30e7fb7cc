"""Similar earlier submissions: BM25 over Sudachi terms with an inverted index, scored with numpy.

Used by staff to reuse answers and spot duplicates, by the web form to show related answers and by
item pages on the notice board ("related items"). Scores are divided by the query's score against
itself, which puts them in [0, 1] (1 ≈ the same words).

Why numpy: a query must add up a BM25 contribution for every posting of every query term. With
100k published items a common term has tens of thousands of postings, and the loop in Python cost
~0.1-0.2 s per query on the single NLP thread (issue #7: item pages p99 220 ms). Each term's
postings are kept as arrays (document slots, term frequencies), built on the first query after the
term changed, and scores are accumulated with vectorized arithmetic: ~1 ms at 100k documents.

The arithmetic is the same as the pure-Python version it replaced, operation for operation and in
the same order (per document: 0.0 + term 1 + term 2 ... in query order), so the scores are the
same floats and ties still break by key (``tests/nlp/test_similarity_numpy.py`` and
``test_similarity_ties.py`` compare both).

Every published item's related items are precomputed with one query each, and the notice board has
many exact duplicates (the same complaint sent many times: hundreds of documents with equal scores),
so two more things are kept between queries:

* each term's document-side weights ``idf*(tf*(K1+1))/(tf+K1*(1-B+B*dl/avgdl))``: they depend on
  the number of documents and avgdl, so any add or remove drops them all. They are computed by the
  same expression as before, so the floats are the same; a query only adds them up.
* every slot's place in key order as an int64 (``_rank``), so a tie group is ordered by numpy on
  integers instead of a Python list of all its keys (sorting the keys themselves in numpy, as
  byte strings, was as slow as Python for a few thousand keys in random slot order). Ranks leave
  gaps: a new key takes the middle of its neighbours' gap, found by bisect in the keys kept sorted
  in blocks (``_KeyOrder``: one big sorted list made an insert a ~400 KB memmove at 100k keys).
  When a gap is used up, all ranks are renumbered (O(n), rare). Ranks come from Python's own
  ``str`` comparison, so any key orders exactly as before.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Collection, Iterator, Sequence

import numpy as np

__all__ = ["SimilarityIndex"]

K1 = 1.2
B = 0.75
_GAP = 1 << 40        # rank distance of a key appended after the largest (or before the smallest)
_RANK_LIMIT = 1 << 62  # renumber before ranks could overflow int64
_BLOCK = 1024          # keys per sorted block of _KeyOrder before it is split


class _KeyOrder:
    """The index's keys in ``str`` order, as sorted blocks: O(log n) search, O(_BLOCK) insert."""

    def __init__(self) -> None:
        self._blocks: list[list[str]] = []
        self._last: list[str] = []  # each block's largest key

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._blocks)

    def insert(self, key: str) -> tuple[str | None, str | None]:
        """Insert a new key; return its neighbours (the key before it, the key after it)."""
        if not self._blocks:
            self._blocks.append([key])
            self._last.append(key)
            return None, None
        i = min(bisect.bisect_left(self._last, key), len(self._blocks) - 1)
        block = self._blocks[i]
        j = bisect.bisect_left(block, key)
        block.insert(j, key)
        before = block[j - 1] if j > 0 else (self._blocks[i - 1][-1] if i > 0 else None)
        after = block[j + 1] if j + 1 < len(block) else None  # key < _last[i] unless i is the last block
        self._last[i] = block[-1]
        if len(block) > 2 * _BLOCK:
            self._blocks[i:i + 1] = [block[:_BLOCK], block[_BLOCK:]]
            self._last[i:i + 1] = [block[_BLOCK - 1], block[-1]]
        return before, after

    def remove(self, key: str) -> None:
        i = bisect.bisect_left(self._last, key)
        block = self._blocks[i]
        del block[bisect.bisect_left(block, key)]
        if block:
            self._last[i] = block[-1]
        else:
            del self._blocks[i], self._last[i]


class SimilarityIndex:
    """In-memory BM25 index; ``add`` the terms from :meth:`nlp.Analyzer.terms`. Not thread-safe."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[int, int]] = {}          # term → {slot: tf}
        self._docs: dict[str, tuple[int, tuple[str, ...], int]] = {}  # key → (length, distinct terms, slot)
        self._keys: list[str | None] = []                       # slot → key (None: free)
        self._free: list[int] = []
        self._lengths = np.zeros(64, dtype=np.float64)           # slot → document length
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term → (slots, tf), built lazily
        self._weights: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term → (slots, weights); any change drops all
        self._order = _KeyOrder()                                # every key, in key order
        self._rank = np.zeros(64, dtype=np.int64)                # slot → place in key order (with gaps)
        self._total_len = 0

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def add(self, key: str, terms: Sequence[str]) -> None:
        """Index (or re-index) one document."""
        if key in self._docs:
            self.remove(key)
        slot = self._free.pop() if self._free else len(self._keys)
        if slot == len(self._keys):
            self._keys.append(key)
            if slot >= len(self._lengths):
                self._lengths = np.concatenate([self._lengths, np.zeros(len(self._lengths), dtype=np.float64)])
                self._rank = np.concatenate([self._rank, np.zeros_like(self._rank)])
        else:
            self._keys[slot] = key
        self._place(key, slot)
        self._weights.clear()  # N and avgdl change: every weight may change
        tf = Counter(terms)
        for t, c in tf.items():
            self._postings.setdefault(t, {})[slot] = c
            self._arrays.pop(t, None)
        self._lengths[slot] = len(terms)
        self._docs[key] = (len(terms), tuple(tf), slot)
        self._total_len += len(terms)

    def remove(self, key: str) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        length, distinct, slot = doc
        self._total_len -= length
        self._weights.clear()
        self._order.remove(key)
        for t in distinct:
            self._arrays.pop(t, None)
            p = self._postings.get(t)
            if p is not None:
                p.pop(slot, None)
                if not p:
                    del self._postings[t]
        self._keys[slot] = None
        self._lengths[slot] = 0.0
        self._free.append(slot)

    def _place(self, key: str, slot: int) -> None:
        """Give a new key a rank between its neighbours' (``key`` is not in ``_docs`` yet)."""
        rank, docs = self._rank, self._docs
        prev_key, next_key = self._order.insert(key)
        before = None if prev_key is None else int(rank[docs[prev_key][2]])
        after = None if next_key is None else int(rank[docs[next_key][2]])
        if before is None:
            r = 0 if after is None else after - _GAP
        elif after is None:
            r = before + _GAP
        else:
            r = (before + after) // 2
        if r == before or abs(r) >= _RANK_LIMIT:  # no room left here: renumber everything
            n = len(docs) + 1
            slots = np.fromiter((slot if k is key else docs[k][2] for k in self._order), dtype=np.int64, count=n)
            # Spread over [-limit/2, 0): room for ~2**21 prepends and 2**22 appends, deep gaps between.
            rank[slots] = np.arange(-n, 0, dtype=np.int64) * (_RANK_LIMIT // 2 // n)
        else:
            rank[slot] = r

    def _idf(self, df: int) -> float:
        n = len(self._docs)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def _term_arrays(self, term: str, postings: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays.get(term)
        if arrays is None:
            slots = np.fromiter(postings.keys(), dtype=np.int64, count=len(postings))
            tfs = np.fromiter(postings.values(), dtype=np.float64, count=len(postings))
            arrays = self._arrays[term] = (slots, tfs)
        return arrays

    def _term_weights(self, term: str, postings: dict[int, int], idf: float, avgdl: float) -> tuple[np.ndarray, np.ndarray]:
        """(slots, BM25 contribution of ``term`` to each), valid until the next add or remove."""
        weights = self._weights.get(term)
        if weights is None:
            slots, tf = self._term_arrays(term, postings)
            dl = self._lengths[slots]
            # Same expression and order as the scalar version: idf * (tf*(K1+1)) / (tf + K1*(1-B+B*dl/avgdl)).
            weights = self._weights[term] = (slots, idf * (tf * (K1 + 1)) / (tf + K1 * (1 - B + B * dl / avgdl)))
        return weights

    def query(self, terms: Sequence[str], k: int = 5, exclude: str | Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most similar documents as (key, score in [0, 1]), best first; ties by key."""
        if not terms or not self._docs or k <= 0:
            return []
        skip: Collection[str] = {exclude} if isinstance(exclude, str) else (exclude or ())
        avgdl = self._total_len / len(self._docs) or 1.0
        qtf = Counter(terms)
        scores = np.zeros(len(self._keys), dtype=np.float64)
        matched = False
        self_score = 0.0
        for t, qc in qtf.items():
            postings = self._postings.get(t)
            df = len(postings) if postings else 0
            idf = self._idf(df)
            qnorm = K1 * (1 - B + B * len(terms) / avgdl)
            self_score += idf * (qc * (K1 + 1)) / (qc + qnorm)
            if not postings:
                continue
            slots, weights = self._term_weights(t, postings, idf, avgdl)
            scores[slots] += weights  # per document: 0.0 + term 1 + term 2 ... in query order
            matched = True
        for key in skip:
            doc = self._docs.get(key)
            if doc is not None:
                scores[doc[2]] = 0.0
        if not matched or self_score <= 0:
            return []
        # The k best, best first, ties by key: take the highest score's documents (all of them,
        # sorted by key), then the next highest, until k are taken. At most k passes of O(n)
        # each; np.partition was slower (milliseconds) on the many equal scores of duplicates.
        keys = self._keys
        best: list[tuple[str, float]] = []
        while len(best) < k:
            top = float(scores.max())
            if top <= 0.0:
                break
            group = np.flatnonzero(scores == top)
            need = k - len(best)
            if len(group) > 1:
                group = self._first_by_key(group, need)
            best.extend((keys[s], top) for s in group.tolist())  # type: ignore[misc]
            if len(best) >= k:
                break
            scores[group] = 0.0  # the whole tie group was taken
        return [(key, min(1.0, round(s / self_score, 6))) for key, s in best[:k]]

    def _first_by_key(self, group: np.ndarray, need: int) -> np.ndarray:
        """The slots of the ``need`` smallest keys in ``group`` (all of them if fewer), by key."""
        ranks = self._rank[group]
        if len(group) > 4 * need:  # a large tie (thousands of identical items): only its first keys
            first = np.argpartition(ranks, need - 1)[:need]  # ranks are distinct: no degenerate partition
            return group[first[np.argsort(ranks[first])]]
        return group[np.argsort(ranks)[:need]]
