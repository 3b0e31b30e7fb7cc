"""``meyasubako eval --data FILE``: routing and PII quality on a labelled JSONL file.

Each line: ``{"text", "section", "pii": [{"start","end","type"}]}``. Prints accuracy, top-3
accuracy, macro-F1, the most frequent confusions, and span-level exact-match precision/recall per
PII type.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from nlp import PII_TYPES, Analyzer

from ..catalog import load_sections


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate routing and PII on a labelled JSONL file")
    p.add_argument("--data", metavar="FILE", required=True, help="labelled JSONL (like dev_submissions.jsonl)")
    p.add_argument("--sections", metavar="FILE", help="section catalog JSON (default: packaged)")
    p.set_defaults(func=_from_args)


def _from_args(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    with open(args.data, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    report = evaluate(Analyzer(load_sections(args.sections)), rows)
    out.write(format_report(report))
    return 0


def evaluate(analyzer: Analyzer, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Compute the metrics; pure apart from running the analyzer."""
    n = ok = top3 = 0
    pairs: list[tuple[str, str]] = []
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for row in rows:
        a = analyzer.analyze(row["text"])
        gold = row.get("section")
        if gold is not None:
            n += 1
            ok += a.section == gold
            top3 += gold in [s for s, _ in a.top]
            pairs.append((gold, a.section))
        if "pii" in row:
            g = {(p["start"], p["end"], p["type"]) for p in row["pii"]}
            p = {(s.start, s.end, s.type) for s in a.pii}
            for _, _, t in g & p:
                tp[t] += 1
            for _, _, t in p - g:
                fp[t] += 1
            for _, _, t in g - p:
                fn[t] += 1
    labels = sorted({g for g, _ in pairs} | {p for _, p in pairs})
    f1s = []
    for lab in sorted({g for g, _ in pairs}):
        t = sum(1 for g, p in pairs if g == lab and p == lab)
        pp = sum(1 for _, p in pairs if p == lab)
        gg = sum(1 for g, _ in pairs if g == lab)
        prec = t / pp if pp else 0.0
        rec = t / gg if gg else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    pii = {}
    for t in PII_TYPES:
        if tp[t] + fp[t] + fn[t] == 0:
            continue
        pii[t] = {
            "precision": tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0,
            "recall": tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0,
            "tp": tp[t],
            "fp": fp[t],
            "fn": fn[t],
        }
    return {
        "n": n,
        "accuracy": ok / n if n else 0.0,
        "top3": top3 / n if n else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "confusions": Counter((g, p) for g, p in pairs if g != p).most_common(),
        "labels": labels,
        "pii": pii,
    }


def format_report(r: Mapping[str, Any]) -> str:
    lines = [
        f"routing: n={r['n']} accuracy={r['accuracy']:.3f} top3={r['top3']:.3f} macro_f1={r['macro_f1']:.3f}",
        "confusions (gold -> predicted: count):",
    ]
    lines += [f"  {g} -> {p}: {c}" for (g, p), c in r["confusions"][:15]] or ["  (none)"]
    lines.append("pii (span-level exact match):")
    for t, m in r["pii"].items():
        lines.append(
            f"  {t:<12} precision={m['precision']:.3f} recall={m['recall']:.3f} (tp={m['tp']} fp={m['fp']} fn={m['fn']})"
        )
    return "\n".join(lines) + "\n"


def run(argv: Sequence[str], stdout: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="meyasubako")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return _from_args(parser.parse_args(["eval", *argv]), stdout)


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdout))


if __name__ == "__main__":
    main()
