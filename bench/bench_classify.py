"""Throughput of classify (route + PII + mask) against bare Sudachi tokenization, in one run.

    python bench/bench_classify.py [--data FILE.jsonl] [--repeat N]

Baseline = ``list(tokenizer.tokenize(text, SplitMode.C))`` on the same texts with the same
tokenizer. The ratio (analyze time / bare time) is what the target "within 2x" refers to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sudachipy import SplitMode  # noqa: E402

from meyasubako.catalog import load_sections  # noqa: E402
from nlp import Analyzer  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "dev_submissions.jsonl")
FALLBACK = [
    "家の前の道路に大きな穴があいています。危ないので直してください。田中です。090-1234-5678",
    "公園のブランコの鎖がさびて切れそうです",
    "燃えるゴミの収集日が変わったと聞きましたが、何曜日ですか",
    "区役所の窓口の職員の態度が悪かったです",
    "住民票の写しをコンビニで取りたいです。〒060-0001 中央区北1条西2丁目1-1 山田花子",
]


def _texts(path: str | None) -> list[str]:
    for p in (path, DEFAULT_DATA, "/work/shared/data/dev_submissions.jsonl"):
        if p and os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return [json.loads(line)["text"] for line in f if line.strip()]
    return FALLBACK


def _time(fn, texts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--copies", type=int, default=10, help="texts are repeated this many times per round")
    args = ap.parse_args()
    texts = _texts(args.data) * args.copies
    analyzer = Analyzer(load_sections())
    tok = analyzer.tokenizer
    for t in texts[:50]:  # warm caches of both paths
        analyzer.analyze(t)
    def bare_fn(s: str) -> None:
        list(tok.tokenize(s, SplitMode.C))

    def read_fn(s: str) -> None:  # the least any consumer does: read each morpheme once
        for m in tok.tokenize(s, SplitMode.C):
            m.surface(), m.normalized_form(), m.part_of_speech()

    # Rounds are interleaved and the best round of each kept, so a busy machine skews all alike.
    bare = readall = full = float("inf")
    for _ in range(args.repeat):
        bare = min(bare, _time(bare_fn, texts, 1))
        readall = min(readall, _time(read_fn, texts, 1))
        full = min(full, _time(analyzer.analyze, texts, 1))
    chars = sum(len(t) for t in texts) / len(texts)
    print(f"texts: {len(texts)} (avg {chars:.0f} chars), best of {args.repeat}")
    print(f"bare sudachi tokenize: {len(texts) / bare:,.0f} items/s")
    print(f"tokenize + read morphemes (surface, normalized_form, POS): {len(texts) / readall:,.0f} items/s")
    print(f"classify (analyze):    {len(texts) / full:,.0f} items/s")
    print(f"ratio analyze/bare:    {full / bare:.2f}x")
    print(f"ratio analyze/read:    {full / readall:.2f}x")


if __name__ == "__main__":
    main()
