from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from meyasubako.commands import classify
from meyasubako.commands import eval as eval_cmd

ROOT = Path(__file__).resolve().parents[2]


def test_classify_jsonl_in_order_with_errors():
    stdin = io.StringIO(
        "\n".join(
            [
                json.dumps({"id": "1", "text": "公園のブランコが壊れています。田中です。０９０－１２３４－５６７８"}, ensure_ascii=False),
                "{not json",
                json.dumps({"id": "3"}),
                json.dumps({"id": 4, "text": ""}),
                json.dumps({"id": "5", "text": "住民票をコンビニで取りたい"}, ensure_ascii=False),
            ]
        )
        + "\n"
    )
    stdout = io.StringIO()
    rc = classify.run([], stdin, stdout)
    lines = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert rc == 1
    assert len(lines) == 5
    first = lines[0]
    assert set(first) == {"id", "section", "top", "pii", "masked"}
    assert first["id"] == "1" and first["section"] == "park" and len(first["top"]) == 3
    text = "公園のブランコが壊れています。田中です。０９０－１２３４－５６７８"
    assert [(p["type"], text[p["start"] : p["end"]]) for p in first["pii"]] == [
        ("person", "田中"),
        ("phone", "０９０－１２３４－５６７８"),
    ]
    assert first["masked"] == "公園のブランコが壊れています。〔氏名〕です。〔電話番号〕"
    assert "error" in lines[1] and "id" not in lines[1]
    assert lines[2]["id"] == "3" and "error" in lines[2]
    assert lines[3]["id"] == 4 and lines[3]["section"] == "other"
    assert lines[4]["section"] == "residents"


def test_classify_exit_zero_and_custom_sections(tmp_path):
    catalog = {"sections": [
        {"id": "road", "name": "道路", "unit": "u", "scope": "道路の穴", "vocabulary": {"穴": 3}},
        {"id": "service", "name": "広聴", "unit": "u", "scope": "職員", "vocabulary": {}},
        {"id": "other", "name": "他", "unit": "u", "scope": "", "vocabulary": {}},
    ]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    stdout = io.StringIO()
    rc = classify.run(["--sections", str(path)], io.StringIO('{"id":"a","text":"穴があいてる"}\n'), stdout)
    assert rc == 0
    assert json.loads(stdout.getvalue())["top"][0] == "road"


def test_classify_as_a_process():
    proc = subprocess.run(
        [sys.executable, "-c", "from meyasubako.commands.classify import main; main()"],
        input='{"id":"x","text":"ごみの収集日を教えて"}\n',
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["section"] == "waste"


def test_register_adds_subcommands():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    classify.register(sub)
    eval_cmd.register(sub)
    args = parser.parse_args(["eval", "--data", "f.jsonl"])
    assert callable(args.func) and args.data == "f.jsonl"
    assert callable(parser.parse_args(["classify"]).func)


def test_eval_prints_metrics(tmp_path):
    rows = [
        {"text": "道路に穴があいている。田中です", "section": "road", "pii": [{"start": 11, "end": 13, "type": "person"}]},
        {"text": "図書館を使いたい", "section": "facilities", "pii": []},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = io.StringIO()
    assert eval_cmd.run(["--data", str(path)], out) == 0
    text = out.getvalue()
    assert "accuracy=1.000" in text and "top3=1.000" in text and "macro_f1=1.000" in text
    assert "person       precision=1.000 recall=1.000" in text
