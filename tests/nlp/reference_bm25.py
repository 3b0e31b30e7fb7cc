"""REFERENCE ONLY (tests): the pure-Python BM25 index that nlp/similarity.py replaced, unchanged.

The numpy index must return exactly what this one returns (tests/nlp/test_similarity_numpy.py).
The original description follows.

Similar earlier submissions: BM25 over Sudachi terms with an inverted index.

Used by staff to reuse answers and spot duplicates and by the web form to show related answers.
An inverted index (term → {doc: tf}) keeps queries proportional to the postings of the query's
terms, not to the number of documents, so it stays fast at 100k documents. Scores are divided by
the query's score against itself, which puts them in [0, 1] (1 ≈ the same words).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence

__all__ = ["ReferenceIndex"]

K1 = 1.2
B = 0.75


class ReferenceIndex:
    """In-memory BM25 index; ``add`` the terms from :meth:`nlp.Analyzer.terms`."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[str, int]] = {}
        self._docs: dict[str, tuple[int, tuple[str, ...]]] = {}  # key → (length, distinct terms)
        self._total_len = 0

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def add(self, key: str, terms: Sequence[str]) -> None:
        """Index (or re-index) one document."""
        if key in self._docs:
            self.remove(key)
        tf = Counter(terms)
        for t, c in tf.items():
            self._postings.setdefault(t, {})[key] = c
        self._docs[key] = (len(terms), tuple(tf))
        self._total_len += len(terms)

    def remove(self, key: str) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        length, distinct = doc
        self._total_len -= length
        for t in distinct:
            p = self._postings.get(t)
            if p is not None:
                p.pop(key, None)
                if not p:
                    del self._postings[t]

    def _idf(self, df: int) -> float:
        n = len(self._docs)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def query(self, terms: Sequence[str], k: int = 5, exclude: str | Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` most similar documents as (key, score in [0, 1]), best first; ties by key."""
        if not terms or not self._docs or k <= 0:
            return []
        skip: Collection[str] = {exclude} if isinstance(exclude, str) else (exclude or ())
        avgdl = self._total_len / len(self._docs) or 1.0
        qtf = Counter(terms)
        scores: dict[str, float] = {}
        self_score = 0.0
        for t, qc in qtf.items():
            postings = self._postings.get(t)
            df = len(postings) if postings else 0
            idf = self._idf(df)
            qnorm = K1 * (1 - B + B * len(terms) / avgdl)
            self_score += idf * (qc * (K1 + 1)) / (qc + qnorm)
            if not postings:
                continue
            docs = self._docs
            for key, tf in postings.items():
                dl = docs[key][0]
                s = idf * (tf * (K1 + 1)) / (tf + K1 * (1 - B + B * dl / avgdl))
                scores[key] = scores.get(key, 0.0) + s
        for key in skip:
            scores.pop(key, None)
        if not scores or self_score <= 0:
            return []
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [(key, min(1.0, round(s / self_score, 6))) for key, s in best]
