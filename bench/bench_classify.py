"""Throughput of classify (route + PII + mask) against bare Sudachi tokenization, in one run.

    python bench/bench_classify.py [--data FILE.jsonl] [--rounds N]

Baseline = ``list(tokenizer.tokenize(text, SplitMode.C))`` on the same texts with the same
tokenizer (the one the analyzer uses, split mode C as the service). The ratio (classify cost /
bare cost per item) is what the target "within 2x" refers to.

How it measures: each round runs every function once over all texts, the functions interleaved,
and for each function the fastest round is kept. Cost is the CPU time of this thread
(``time.thread_time``): on a machine shared with other jobs, wall time also counts the time
other processes held the CPU, which lands unevenly on the functions (the longer one is
preempted more often). Wall-clock throughput is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

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
TARGET_RATE = 1_000  # items/s on one core
TARGET_RATIO = 2.0  # classify cost per item / bare tokenization cost per item


def _texts(path: str | None) -> list[str]:
    for p in (path, DEFAULT_DATA, "/work/shared/data/dev_submissions.jsonl"):
        if p and os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return [json.loads(line)["text"] for line in f if line.strip()]
    return FALLBACK


def measure(fns: dict[str, Callable[[str], object]], texts: list[str], rounds: int) -> dict[str, tuple[float, float]]:
    """name → (best CPU seconds per round, best wall seconds per round)."""
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            c0, w0 = time.thread_time(), time.perf_counter()
            for t in texts:
                fn(t)
            c, w = time.thread_time() - c0, time.perf_counter() - w0
            best[name] = (min(best[name][0], c), min(best[name][1], w))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data")
    ap.add_argument("--rounds", type=int, default=60)
    args = ap.parse_args()
    texts = _texts(args.data)
    analyzer = Analyzer(load_sections())
    tok = analyzer.tokenizer
    for t in texts:  # warm the caches of both paths (the service runs warm)
        analyzer.analyze(t)
        list(tok.tokenize(t, SplitMode.C))

    def bare(s: str) -> None:
        list(tok.tokenize(s, SplitMode.C))

    def read(s: str) -> None:  # the least any consumer does: read each morpheme once
        for m in tok.tokenize(s, SplitMode.C):
            m.surface(), m.normalized_form(), m.part_of_speech()

    best = measure({"bare": bare, "read": read, "classify": analyzer.analyze}, texts, args.rounds)
    n = len(texts)
    chars = sum(len(t) for t in texts) / n
    ratio = best["classify"][0] / best["bare"][0]
    rate = n / best["classify"][0]
    print(f"texts: {n} (avg {chars:.0f} chars), best of {args.rounds} interleaved rounds; "
          f"Python {platform.python_version()}, {platform.machine()}")
    print()
    print("| per item                                                  | items/s (CPU) | µs/item (CPU) | items/s (wall) | × bare (CPU) | × bare (wall) |")
    print("|-----------------------------------------------------------|---------------|---------------|----------------|--------------|---------------|")
    rows = [
        ("bare Sudachi tokenize (mode C)", "bare"),
        ("tokenize + read morphemes (surface, normalized_form, POS)", "read"),
        ("classify: analyze() = normalize, route, PII, mask", "classify"),
    ]
    for label, key in rows:
        c, w = best[key]
        print(f"| {label:57} | {n / c:13,.0f} | {c / n * 1e6:13.1f} | {n / w:14,.0f} "
              f"| {c / best['bare'][0]:12.2f} | {w / best['bare'][1]:13.2f} |")
    print()
    ok_rate, ok_ratio = rate >= TARGET_RATE, ratio <= TARGET_RATIO
    print(f"target ≥ {TARGET_RATE:,} items/s on one core: {rate:,.0f} → {'PASS' if ok_rate else 'MISS'}")
    print(f"target classify ≤ {TARGET_RATIO:.1f}× bare tokenization: {ratio:.2f}× → {'PASS' if ok_ratio else 'MISS'}")


if __name__ == "__main__":
    main()
