"""``migrate``, ``copy`` and ``check`` across backends, through the real console script, on real SQLite
files and a real (throwaway) PostgreSQL cluster."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from meyasubako import keys
from meyasubako.cli import main
from meyasubako.settings import Settings
from storage import backup as bk
from storage import migrations
from storage import public as pub
from storage import submissions as subs
from storage.copy import NOT_COPIED, ORDER
from storage.endpoint import open_endpoint
from storage.pg import PgDatabase
from tests.admin.helpers import post
from tests.bot.conftest import post_events, postback_data, settle
from tests.conftest import SECRET, add_user, admin_post, login, receipt_of, submit
from tests.line_double import (
    ACCESS_TOKEN,
    CHANNEL_SECRET,
    LineDouble,
    follow_event,
    postback_event,
    text_event,
    user_id,
)
from tests.ops.helpers import execute, rows
from tests.pg_cluster import create_database, drop_database
from tests.public.conftest import make_item
from tests.test_cli import run_cli

BOTH_BACKENDS = True  # the migrate tests (they take ``db_url``) run on SQLite and on PostgreSQL
LATEST = migrations.latest_version()
NAMES = [m.name.removesuffix(".sql") for m in migrations.available()]
_n = itertools.count()


def cli_process(*args: str) -> tuple[int, str, str]:
    """Through the real console script in its own process (~5 s of start-up on a busy machine)."""
    out = run_cli(*args)
    stderr = out.stderr.decode()
    assert "Traceback" not in stderr, stderr
    return out.returncode, out.stdout.decode(), stderr


async def cli(*args: str) -> tuple[int, str, str]:
    """The console script's ``main`` in this process (on a thread: the commands run their own event
    loop), its stdout and stderr captured. An exception it does not turn into an exit code fails."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                return main(list(args))
            except SystemExit as exc:  # argparse
                return int(exc.code or 0)

    code = await asyncio.to_thread(call)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
async def new_pg(pg_server):  # type: ignore[no-untyped-def]
    """A factory of empty PostgreSQL databases (dropped after the test)."""
    made: list[str] = []

    async def factory() -> str:
        name = f"copy{os.getpid()}_{next(_n)}"
        await create_database(pg_server.url, name)
        made.append(name)
        return pg_server.database_url(name)

    yield factory
    for name in made:
        await drop_database(pg_server.url, name)


# -- migrate ----------------------------------------------------------------------------------------
async def test_migrate_status_to_and_again(db_url, backend):
    code, out, err = await cli("migrate", "--db", db_url, "--status")
    if backend == "sqlite":  # a missing file is an error for --status (which never creates one)
        assert code == 2 and "no database at" in err
    else:  # a new, empty PostgreSQL database: every migration is missing
        assert code == 1 and out.count("missing: ") == len(NAMES) and "schema version: 0" in out

    code, out, err = await cli("migrate", "--db", db_url, "--to", "20")
    assert code == 0, err
    assert [line.split(": ")[1] for line in out.splitlines() if line.startswith("applied")] == NAMES[:3]
    assert f"schema version: 20 (this program: {LATEST}); {len(NAMES) - 3} later migration(s) not applied" in out

    code, out, _ = await cli("migrate", "--db", db_url, "--status")
    assert code == 1 and [line[9:] for line in out.splitlines() if line.startswith("missing: ")] == NAMES[3:]

    code, out, err = await cli("migrate", "--db", db_url)
    assert code == 0, err
    assert [line.split(": ")[1] for line in out.splitlines() if line.startswith("applied")] == NAMES[3:]
    assert out.rstrip().endswith("up to date")

    code, out, _ = await cli("migrate", "--db", db_url)  # idempotent
    assert code == 0 and "nothing to apply" in out and "applied:" not in out
    code, out, _ = await cli("migrate", "--db", db_url, "--status")
    assert code == 0 and "missing" not in out and "up to date" in out
    # The check agrees, on either backend.
    code, out, _ = await cli("check", "--db", db_url)
    assert code == 0 and "result: consistent" in out, out


async def test_migrate_refuses_bad_versions_and_a_newer_database(db_url, backend):
    for bad in ("15", "9999", "-1"):
        code, _, err = await cli("migrate", "--db", db_url, "--to", bad)
        assert code == 2 and "not a migration version" in err
    assert (await cli("migrate", "--db", db_url, "--to", "abc"))[0] == 2  # argparse
    assert (await cli("migrate", "--db", db_url))[0] == 0
    ep = await open_endpoint(db_url)
    try:
        await ep.conn.execute("INSERT INTO schema_version (version, name) VALUES (9990, '9990_future.sql')")
        if backend == "sqlite":
            await ep.conn.commit()
    finally:
        await ep.close()
    code, _, err = await cli("migrate", "--db", db_url)
    assert code == 2 and "newer meyasubako" in err
    code, out, _ = await cli("check", "--db", db_url)
    assert code == 1 and "newer than this program" in out


async def test_migrate_hostile_urls(tmp_path):
    not_db = tmp_path / "notes.txt"
    not_db.write_bytes(b"this is not a database" * 100)
    cases = {
        "mysql://root@localhost/city": "unsupported database URL scheme",
        "http://example.com/db": "unsupported database URL scheme",
        str(tmp_path / "no" / "such" / "dir" / "x.sqlite3"): "does not exist",
        str(tmp_path): "is a directory",
        str(not_db): "cannot open",
        "postgresql://meyasubako:hunter2secret@127.0.0.1:1/x": "cannot connect to PostgreSQL",
        "postgresql://u@[::1/x": "cannot connect to PostgreSQL",
        "postgresql://u@127.0.0.1:99999/x": "cannot connect to PostgreSQL",
    }
    for url, why in cases.items():
        code, _, err = await cli("migrate", "--db", url)
        assert code == 2 and why in err, (url, err)
        assert "hunter2secret" not in err
    assert not (tmp_path / "no").exists()
    # The same through a real process: a clear line on stderr, exit 2, no traceback.
    code, out, err = cli_process("migrate", "--db", "postgresql://meyasubako:hunter2secret@127.0.0.1:99999/x")
    assert code == 2 and err.startswith("meyasubako: cannot connect to PostgreSQL") and "hunter2secret" not in err


# -- copy: a city built by the real app, SQLite -> PostgreSQL -> SQLite -----------------------------
@pytest.fixture
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def city(tmp_path: Path, make_client, _no_proxy) -> Path:  # type: ignore[no-untyped-def]
    """A SQLite installation with web and LINE submissions, a published answer, notes, a template."""
    double = LineDouble()
    await double.start()
    path = tmp_path / "city.sqlite3"
    try:
        settings = Settings(db=str(path), secret_key=SECRET, rate_limit=0, line_channel_secret=CHANNEL_SECRET,
                            line_channel_access_token=ACCESS_TOKEN, line_api_base=double.base_url,
                            base_url="http://meyasubako.example.jp")
        client = await make_client(settings)
        app = client.app
        for text, place in [("駅前の駐輪場が足りません。増やしてください。", "駅前"),
                            ("市民プールの営業期間を延ばしてください。", ""),
                            ("家の前の市道に大きな穴があいていて危ないです。", "本町1丁目")]:
            status, html = await submit(client, text, place=place, contact="090-1234-5678")
            assert status == 200
            receipt_of(html)
        boss = await add_user(app, "koucho", "approver")
        await add_user(app, "root", "admin")
        await make_item(app, "公園のベンチが壊れています。修理してください。", user=boss, section="road",
                        summary="公園のベンチの修理", answer="ベンチを修理しました。ご連絡ありがとうございました。")
        await login(client, "root")
        assert (await post(client, "/admin/sections/road/templates", {"title": "補修予定", "body": "補修します。"},
                           page="/admin/sections/road")).status == 303
        [first] = [r["receipt_no"] for r in rows(path, "SELECT receipt_no FROM submissions ORDER BY id LIMIT 1")]
        assert (await admin_post(client, first, "note", {"body": "現地を確認します。"})).status in (200, 303)
        u1 = user_id(1)
        assert await post_events(client, double, follow_event(u1), text_event(u1, "図書館の開館時間を延ばしてほしい。")) == 200
        await settle(client)
        assert await post_events(client, double, postback_event(u1, postback_data(double, u1, "このまま送信"))) == 200
        await settle(client)
        await client.close()
    finally:
        await double.stop()
    for table in ("submissions", "events", "answers", "notes", "answer_templates", "line_inbox", "line_users",
                  "line_drafts", "outbox", "staff_fts", "public_fts", "receipt_counters", "users"):
        assert rows(path, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"] > 0, table
    return path


def _sqlite_tables(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for t in ORDER:
            cols = ["rowid", "terms"] if t.endswith("_fts") else [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
            out[t] = sorted(tuple(r) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {t}"))
        return out
    finally:
        conn.close()


async def _pg_tables(url: str, sqlite_path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(sqlite_path)
    raw = await asyncpg.connect(url)
    try:
        out = {}
        for t in ORDER:
            cols = ["rowid", "terms"] if t.endswith("_fts") else [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
            out[t] = sorted(tuple(r) for r in await raw.fetch(f"SELECT {', '.join(cols)} FROM {t}"))
        return out
    finally:
        await raw.close()
        conn.close()


def _same(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> None:
    for t in ORDER:
        if t == "public_generation":  # a cache generation: the copy raises it past both sides'
            assert b[t][0][1] > a[t][0][1]
            continue
        assert a[t] == b[t], t


async def test_copy_city_to_postgresql_serve_it_and_come_back(city, new_pg, make_client, tmp_path):
    before = _sqlite_tables(city)
    target = await new_pg()
    code, out, err = cli_process("copy", "--from", str(city), "--to", target, "--batch", "2")
    assert code == 0, err
    assert "verified: row counts equal in every table" in out and "MEYASUBAKO_FILES_DIR" in out
    for t in ORDER:  # the summary names every table with the source's row count
        if t != "public_generation":
            assert f"  {t} " in out and f" {len(before[t])} rows" in out.split(f"  {t} ")[1].splitlines()[0]
    _same(before, await _pg_tables(target, city))
    raw = await asyncpg.connect(target)
    try:  # the copy switched the triggers off inside its transaction; they are on again
        states = await raw.fetch("SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal")
        assert states and all(r["tgenabled"] == b"O" for r in states), states
    finally:
        await raw.close()
    assert (await cli("check", "--db", target))[0] == 0

    # The service reads it on PostgreSQL: the board (and its search, through the copied index) ...
    db = PgDatabase(target)
    await db.open()
    try:
        async with db.read() as conn:
            items, total = await pub.search(conn, pub.PublicFilter())
            assert total == 1 and items[0].summary == "公園のベンチの修理" and "修理しました" in items[0].answer
            [(_, _, words)] = await pub.terms_of(conn, [items[0].id])
            found, n = await pub.search(conn, pub.PublicFilter(terms=words[:2]))
            assert n == 1 and found[0].receipt_no == items[0].receipt_no
            top = max(r[1] for r in before["submissions"])  # receipt_no is the second column
    finally:
        await db.close()
    # ... and a new submission continues the numbering: identity sequences and receipt counters moved.
    client = await make_client(Settings(db=target, secret_key=SECRET, rate_limit=0, files=str(tmp_path / "files")))
    status, html = await submit(client, "図書館に自習室を作ってください。")
    assert status == 200
    new_no = receipt_of(html)
    assert new_no > top and int(new_no[-6:]) == int(top[-6:]) + 1
    async with client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, new_no)
    assert sub is not None and sub.id == max(r[0] for r in before["submissions"]) + 1
    await client.close()

    # PostgreSQL -> SQLite: the way back; everything but the new submission equals the original.
    back = tmp_path / "back" / "city.sqlite3"
    back.parent.mkdir()
    code, out, err = await cli("copy", "--from", target, "--to", str(back))
    assert code == 0, err
    after = _sqlite_tables(back)
    assert len(after["submissions"]) == len(before["submissions"]) + 1
    after["submissions"] = [r for r in after["submissions"] if r[0] != sub.id]
    after["events"] = [r for r in after["events"] if r[1] != sub.id]  # (id, submission_id, ...)
    after["staff_fts"] = [r for r in after["staff_fts"] if r[0] != sub.id]
    after["receipt_counters"] = [(y, n - 1 if y == int(new_no[:4]) else n) for y, n in after["receipt_counters"]]
    # The serve on PostgreSQL trained the router from the copied items and shared the model: it came back too.
    assert "router_model" in [r[0] for r in after["shared_state"]]
    for t in ("shared_state", "job_runs"):
        before[t] = after[t] = []
    _same(before, after)
    assert (await cli("check", "--db", str(back)))[0] == 0


# -- copy: refusals ----------------------------------------------------------------------------------
async def test_copy_refuses_a_target_with_data_and_leaves_it_alone(city, new_pg):
    target = await new_pg()
    assert (await cli("copy", "--from", str(city), "--to", target))[0] == 0
    code, _, err = await cli("copy", "--from", str(city), "--to", target)
    assert code == 2 and "already holds data" in err and "submissions (" in err
    # SQLite target with data (the city itself, under another name) and the same file twice.
    code, _, err = await cli("copy", "--from", target, "--to", str(city))
    assert code == 2 and "already holds data" in err
    code, _, err = await cli("copy", "--from", str(city), "--to", f"sqlite:///{city}")
    assert code == 2 and "same database" in err
    # check on PostgreSQL finds what it finds on SQLite: a closed item without a reason.
    raw = await asyncpg.connect(target)
    try:
        no = await raw.fetchval("UPDATE submissions SET status = 'closed', close_reason = NULL"
                                " WHERE id = (SELECT MIN(id) FROM submissions) RETURNING receipt_no")
    finally:
        await raw.close()
    code, out, _ = await cli("check", "--db", target)
    assert code == 1 and f"{no}: closed without a reason" in out and "result: INCONSISTENT" in out
    execute(city, f"UPDATE submissions SET status = 'closed', close_reason = NULL WHERE receipt_no = '{no}'")
    code, sqlite_out, _ = await cli("check", "--db", str(city))
    assert code == 1 and f"{no}: closed without a reason" in sqlite_out


async def test_copy_refuses_schema_versions_that_differ(tmp_path, new_pg):
    old = str(tmp_path / "old.sqlite3")
    assert (await cli("migrate", "--db", old, "--to", "50"))[0] == 0
    target = await new_pg()
    code, _, err = await cli("copy", "--from", old, "--to", target)
    assert code == 2 and "source schema is behind" in err and "meyasubako migrate --db SOURCE" in err
    code, _, err = await cli("copy", "--from", old, "--to", str(tmp_path / "new.sqlite3"))
    assert code == 2 and "source schema is behind" in err
    assert not list(tmp_path.glob("new.sqlite3*"))  # the refused copy left no file behind
    assert rows(Path(old), "SELECT MAX(version) AS v FROM schema_version")[0]["v"] == 50  # never migrated
    assert (await cli("migrate", "--db", old))[0] == 0
    execute(Path(old), "INSERT INTO schema_version (version, name) VALUES (9990, '9990_future.sql')")
    code, _, err = await cli("copy", "--from", old, "--to", target)
    assert code == 2 and "newer than this program" in err
    code, _, err = await cli("copy", "--from", str(tmp_path / "plain.sqlite3"), "--to", target)
    assert code == 2 and "no database at" in err
    sqlite3.connect(tmp_path / "plain.sqlite3").execute("CREATE TABLE t (x)").connection.close()
    code, _, err = await cli("copy", "--from", str(tmp_path / "plain.sqlite3"), "--to", target)
    assert code == 2 and "not a meyasubako database" in err


async def test_copy_is_all_or_nothing(city, new_pg):
    """A source row PostgreSQL rejects (an event of a missing submission: SQLite let it in with foreign
    keys off) stops the copy at ``events``, after sections, users and submissions went in: nothing stays."""
    execute(city, "INSERT INTO events (submission_id, at, actor, action) VALUES (999999, '2026-01-01', 'x', 'note')",
            fk=False)
    target = await new_pg()
    code, _, err = await cli("copy", "--from", str(city), "--to", target)
    assert code == 2 and "rolled back" in err and "ForeignKeyViolation" in err
    raw = await asyncpg.connect(target)
    try:
        for t in ("sections", "users", "submissions", "events"):
            assert await raw.fetchval(f"SELECT COUNT(*) FROM {t}") == 0, t
    finally:
        await raw.close()


async def test_copy_refuses_unknown_tables_and_a_live_source(city, new_pg):
    target = await new_pg()
    with bk.hold_serve_lock(city):  # what `serve` holds for its whole life
        code, _, err = await cli("copy", "--from", str(city), "--to", target)
        assert code == 2 and "running meyasubako serve holds the source" in err
        code, _, err = await cli("copy", "--from", target, "--to", str(city))
        assert code == 3 and "holds the target" in err
    execute(city, "CREATE TABLE extra_notes (id INTEGER PRIMARY KEY, body TEXT)")
    code, _, err = await cli("copy", "--from", str(city), "--to", target)
    assert code == 2 and "does not know" in err and "extra_notes" in err


async def test_copy_hostile_urls_and_batches(city, tmp_path, pg_server):
    bad_targets = {
        "mysql://root@localhost/city": "unsupported database URL scheme",
        "postgresql://meyasubako:s3cretpass@127.0.0.1:1/x": "cannot connect to PostgreSQL",
        pg_server.database_url("no_such_database"): "does not exist",
        str(tmp_path / "missing-dir" / "x.sqlite3"): "does not exist",
        "": "empty database URL",
    }
    for url, why in bad_targets.items():
        code, _, err = await cli("copy", "--from", str(city), "--to", url)
        assert code == 2 and why in err, (url, err)
        assert "s3cretpass" not in err
    code, _, err = await cli("copy", "--from", str(tmp_path / "nope.sqlite3"), "--to", str(tmp_path / "t.sqlite3"))
    assert code == 2 and "no database at" in err and not (tmp_path / "t.sqlite3").exists()
    for batch in ("0", "-5", "2000000"):
        code, _, err = await cli("copy", "--from", str(city), "--to", str(tmp_path / "t.sqlite3"), "--batch", batch)
        assert code == 2 and "--batch" in err
    # SQLite -> SQLite works too (batch 1: one row per round).
    code, out, err = await cli("copy", "--from", str(city), "--to", str(tmp_path / "t.sqlite3"), "--batch", "1")
    assert code == 0, err
    _same(_sqlite_tables(city), _sqlite_tables(tmp_path / "t.sqlite3"))


async def test_order_lists_every_table_of_both_schemas(tmp_path, new_pg):
    """A new table in a migration must be added to storage/copy.py ORDER (after the tables it refers to)."""
    sqlite_db = str(tmp_path / "s.sqlite3")
    assert (await cli("migrate", "--db", sqlite_db))[0] == 0
    pg_db = await new_pg()
    assert (await cli("migrate", "--db", pg_db))[0] == 0
    for url in (sqlite_db, pg_db):
        ep = await open_endpoint(url)
        try:
            assert set(await ep.tables()) - NOT_COPIED == set(ORDER), url
            # Each table's foreign keys point at tables earlier in ORDER (or at itself).
            if ep.dialect == "sqlite":
                for t in ORDER:
                    if not t.endswith("_fts"):
                        for fk in ep.raw.execute(f"PRAGMA foreign_key_list({t})"):  # type: ignore[attr-defined]
                            assert ORDER.index(fk[2]) <= ORDER.index(t), (t, fk[2])
        finally:
            await ep.close()


async def test_backup_and_restore_name_pg_dump_for_postgresql(tmp_path):
    url = "postgresql://meyasubako@127.0.0.1:1/city"
    code, _, err = await cli("backup", "--to", str(tmp_path), "--db", url)
    assert code == 2 and "pg_dump" in err and not list(tmp_path.iterdir())
    code, _, err = await cli("restore", "--from", str(tmp_path / "x.tar.gz"), "--db", url)
    assert code == 2 and "pg_restore" in err
    code, _, err = await cli("check", "--db", url)
    assert code == 2 and "cannot connect to PostgreSQL" in err
