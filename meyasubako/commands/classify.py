"""``meyasubako classify``: JSONL ``{"id","text"}`` on stdin → one JSONL result per line, in order."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from nlp import Analyzer

from ..catalog import load_sections


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="route and mask JSONL submissions from stdin")
    p.add_argument("--sections", metavar="FILE", help="section catalog JSON (default: packaged)")
    p.set_defaults(func=lambda args: classify(Analyzer(load_sections(args.sections)), sys.stdin, sys.stdout))


def classify(analyzer: Analyzer, stdin: TextIO, stdout: TextIO) -> int:
    """Process every line; malformed ones yield ``{"id"?, "error"}`` and exit code 1 at the end."""
    errors = 0
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        out: dict[str, Any]
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            out = {"error": f"line {lineno}: invalid JSON: {e.msg}"}
        except RecursionError:  # thousands of nested brackets: refuse the line, keep going
            out = {"error": f"line {lineno}: invalid JSON: nested too deeply"}
        else:
            out = _one(analyzer, item, lineno)
        errors += "error" in out
        text = json.dumps(out, ensure_ascii=False)
        if not _encodable(text):  # a lone surrogate in an echoed id: \u escapes keep the line valid UTF-8
            text = json.dumps(out)
        stdout.write(text + "\n")
    stdout.flush()
    return 1 if errors else 0


def _one(analyzer: Analyzer, item: Any, lineno: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"error": f"line {lineno}: expected a JSON object"}
    ident = item.get("id")
    text = item.get("text")
    if not isinstance(text, str):
        out: dict[str, Any] = {"error": f"line {lineno}: missing or non-string \"text\""}
        if ident is not None:
            out = {"id": ident, **out}
        return out
    if not _encodable(text):  # JSON can spell lone surrogates (\ud800); no tokenizer takes them
        return {"id": ident, "error": f"line {lineno}: \"text\" is not valid Unicode (lone surrogate)"}
    a = analyzer.analyze(text)
    return {
        "id": ident,
        "section": a.section,
        "top": [sid for sid, _ in a.top],
        "pii": [{"start": s.start, "end": s.end, "type": s.type} for s in a.pii],
        "masked": a.masked,
    }


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run(argv: Sequence[str], stdin: TextIO, stdout: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="meyasubako")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["classify", *argv])
    return classify(Analyzer(load_sections(args.sections)), stdin, stdout)


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdin, sys.stdout))


if __name__ == "__main__":
    main()
