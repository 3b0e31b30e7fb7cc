from __future__ import annotations

import random
import time

from nlp import SimilarityIndex


def test_duplicates_rank_first(analyzer):
    idx = SimilarityIndex()
    docs = {
        "a": "公園のブランコの鎖がさびて切れそうです",
        "b": "燃えるごみの収集日を教えてください",
        "c": "バス停に屋根をつけてほしいです",
        "d": "図書館の開館時間を延ばしてほしい",
    }
    for k, v in docs.items():
        idx.add(k, analyzer.terms(v))
    hits = idx.query(analyzer.terms("近所の公園のブランコ、鎖がサビて切れそう"), k=2)
    assert hits[0][0] == "a"
    assert 0 < hits[0][1] <= 1
    # ゴミ vs ごみ spelled differently still matches
    assert idx.query(analyzer.terms("燃えるゴミの収集日は?"), k=1)[0][0] == "b"


def test_remove_and_exclude(analyzer):
    idx = SimilarityIndex()
    idx.add("x", analyzer.terms("除雪が遅い"))
    idx.add("y", analyzer.terms("除雪車が来ない"))
    assert {k for k, _ in idx.query(analyzer.terms("除雪"), k=5)} == {"x", "y"}
    assert [k for k, _ in idx.query(analyzer.terms("除雪"), k=5, exclude="x")] == ["y"]
    idx.remove("y")
    assert [k for k, _ in idx.query(analyzer.terms("除雪"), k=5)] == ["x"]
    idx.remove("missing")  # no error
    assert idx.query([], k=5) == []
    assert len(idx) == 1


def test_readd_replaces(analyzer):
    idx = SimilarityIndex()
    idx.add("x", analyzer.terms("除雪"))
    idx.add("x", analyzer.terms("図書館"))
    assert idx.query(analyzer.terms("除雪")) == []
    assert idx.query(analyzer.terms("図書館"))[0][0] == "x"


def test_fast_at_100k_documents():
    rng = random.Random(7)
    vocab = [f"語{i}" for i in range(20000)]
    idx = SimilarityIndex()
    for d in range(100_000):
        idx.add(str(d), rng.sample(vocab, 12))
    q = rng.sample(vocab, 12)
    t0 = time.perf_counter()
    for _ in range(20):
        res = idx.query(q, k=5)
    per_query = (time.perf_counter() - t0) / 20
    assert res and len(res) == 5
    assert per_query < 0.05, per_query
