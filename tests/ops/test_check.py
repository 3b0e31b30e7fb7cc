"""``meyasubako check`` finds injected inconsistencies (raw SQL behind the workflow's back)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from meyasubako import keys
from storage import check
from tests.conftest import add_user, receipt_of, submit
from tests.ops.helpers import execute, rows
from tests.test_cli import ROOT, run_cli


@pytest.fixture
async def populated(make_client, settings):
    """A database with a published, a closed and an open item, built through the real app."""
    client = await make_client(settings)
    app = client.app
    user = await add_user(app, "koucho", "approver")
    wf = app[keys.WORKFLOW]
    receipts = []
    for text in ("公園のトイレが汚れています。", "道路に穴があいています。", "図書館の本を増やしてください。"):
        receipts.append(receipt_of((await submit(client, text, contact="a@example.jp"))[1]))
    await wf.save_answer(receipts[0], "清掃を行いました。", user)
    await wf.publish(receipts[0], "公園のトイレが汚れている。", user)
    await wf.close(receipts[1], "duplicate", user)
    await client.close()
    return settings.db_path, receipts


def failed(db) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {f.name: f.problems for f in check.run_checks(db) if not f.ok}


async def test_a_database_built_by_the_app_is_consistent(populated):
    db, _ = populated
    assert failed(db) == {}
    out = run_cli("check", "--db", str(db))
    assert out.returncode == 0, out.stdout
    assert b"result: consistent" in out.stdout and out.stdout.count(b"[ok]") == len(check.CHECKS)


INJECTIONS = {
    "status without event": (["UPDATE submissions SET status = 'answered' WHERE id = 3"], "events"),
    "missing receive event": (["DELETE FROM events WHERE submission_id = 3 AND action = 'receive'"], "events"),
    "forbidden transition": (["INSERT INTO events (submission_id, at, actor, action, from_status, to_status)"
                              " SELECT 3, '2026-12-01T00:00:00+09:00', 'system', 'x', to_status, 'published'"
                              " FROM events WHERE submission_id = 3 ORDER BY id DESC LIMIT 1",
                              "UPDATE submissions SET status = 'published', public_summary = 's',"
                              " published_at = 'x' WHERE id = 3"], "events"),
    "published without summary": (["UPDATE submissions SET public_summary = '' WHERE id = 1"], "fields"),
    "published without approved answer": (["UPDATE answers SET state = 'draft' WHERE submission_id = 1"], "fields"),
    "closed without reason": (["UPDATE submissions SET close_reason = NULL WHERE id = 2"], "fields"),
    "malformed receipt": (["UPDATE submissions SET receipt_no = '2026-12' WHERE id = 3"], "receipts"),
    "counter behind": (["UPDATE receipt_counters SET last = 1"], "receipts"),
    "dangling event": (["INSERT INTO events (submission_id, at, actor, action) VALUES (999, 'x', 'x', 'x')"],
                       "foreign_keys"),
    "unpublished item publicly searchable": (["INSERT INTO public_fts (rowid, terms) VALUES (3, 'secret')"],
                                             "search_index"),
    "old schema": (["DELETE FROM schema_version WHERE version = (SELECT MAX(version) FROM schema_version)"],
                   "schema"),
    "erased but holds contact": (["UPDATE submissions SET erased_at = 'x' WHERE id = 2"], "erased"),
}


@pytest.mark.parametrize("name", sorted(INJECTIONS))
async def test_check_finds_an_injected_inconsistency(populated, tmp_path, name):
    db, _ = populated
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(db, copy)
    statements, expected = INJECTIONS[name]
    execute(copy, *statements, fk=False)
    problems = failed(copy)
    assert expected in problems, (name, problems)
    assert set(problems) <= {expected, "fields", "events"}, problems  # one fault, not a cascade of noise


async def test_cli_reports_and_exits_1(populated, tmp_path):
    db, receipts = populated
    execute(db, "UPDATE submissions SET status = 'answered' WHERE id = 3")
    out = run_cli("check", "--db", str(db))
    assert out.returncode == 1
    text = out.stdout.decode()
    assert "[FAIL] audit trail consistent with each status" in text and receipts[2] in text
    assert "result: INCONSISTENT (1 check(s) failed)" in text


def test_check_on_missing_garbage_and_foreign_files(tmp_path):
    out = run_cli("check", "--db", str(tmp_path / "nope.sqlite3"))
    assert out.returncode == 2 and b"no database" in out.stderr
    assert not (tmp_path / "nope.sqlite3").exists()
    (tmp_path / "garbage.sqlite3").write_bytes(b"this is not sqlite" * 100)
    out = run_cli("check", "--db", str(tmp_path / "garbage.sqlite3"))
    assert out.returncode == 1 and b"INCONSISTENT" in out.stdout
    other = tmp_path / "other.sqlite3"
    execute(other, "CREATE TABLE t (x)")
    out = run_cli("check", "--db", str(other))
    assert out.returncode == 1 and b"not a meyasubako database" in out.stdout


async def test_check_runs_against_a_live_database(make_client, settings):
    client = await make_client(settings)
    await submit(client, "ごみ集積所のカラス対策をお願いします。")
    proc = subprocess.run([sys.executable, "-m", "meyasubako", "check", "--db", str(settings.db_path)],
                          capture_output=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert rows(settings.db_path, "SELECT COUNT(*) AS n FROM submissions")[0]["n"] == 1
