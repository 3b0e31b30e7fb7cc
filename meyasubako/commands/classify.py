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
            item = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            out = {"error": f"line {lineno}: invalid JSON: {e.msg}"}
        except _DuplicateKey as e:
            out = {"error": f"line {lineno}: duplicate key {e.args[0]!r}"}
        except RecursionError:
            out = {"error": f"line {lineno}: invalid JSON: nested too deeply"}
        else:
            out = _one(analyzer, item, lineno)
        errors += "error" in out
        stdout.write(_jsonl(out))
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
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        # Invalid UTF-8 on stdin (decoded with surrogateescape) or a lone \\ud800 escape: not text.
        return {"id": ident, "error": f"line {lineno}: \"text\" is not valid Unicode (invalid UTF-8 or a lone surrogate)"}
    if not isinstance(ident, (str, int)) or isinstance(ident, bool):
        # The output is joined back to the input by id: without a usable one the line is malformed.
        return {"error": f"line {lineno}: missing or invalid \"id\" (a string or a number)"}
    a = analyzer.analyze(text)
    return {
        "id": ident,
        "section": a.section,
        "top": [sid for sid, _ in a.top],
        "pii": [{"start": s.start, "end": s.end, "type": s.type} for s in a.pii],
        "masked": a.masked,
    }


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


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """{"id": "a", "id": "b"} is ambiguous: which id should the output carry? Refuse it."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _jsonl(obj: Any) -> str:
    """One JSON line, readable UTF-8 where possible; a text with lone surrogates (valid in JSON input
    as \\ud800 escapes, unencodable as UTF-8) is written with ASCII escapes so it still round-trips."""
    line = json.dumps(obj, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj)
    return line + "\n"
