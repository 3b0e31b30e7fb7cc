"""Storage: migrations, WAL, group commit, receipt numbers, failure isolation."""

from __future__ import annotations

import asyncio
import sqlite3

import aiosqlite
import pytest

from storage import migrations
from storage import submissions as subs
from storage.db import Database


async def test_migrate_from_empty_then_rerun_is_noop(tmp_path):
    db = Database(tmp_path / "a.sqlite3")
    await db.open()
    assert await db.schema_version() == migrations.latest_version()
    await db.close()
    db = Database(tmp_path / "a.sqlite3")
    await db.open()
    async with db.read() as conn:
        async with conn.execute("SELECT COUNT(*) FROM schema_version") as cur:
            assert (await cur.fetchone())[0] == len(migrations.available())
        async with conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    await db.close()


@pytest.mark.parametrize("start", [m.version for m in migrations.available()])
async def test_older_database_is_upgraded_in_place(tmp_path, start):
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrations.migrate(conn, upto=start)
        assert await migrations.current_version(conn) == start
        await conn.execute("INSERT INTO sections (id, name) VALUES ('road', '道路')")
    db = Database(path)
    await db.open()
    assert await db.schema_version() == migrations.latest_version()
    async with db.read() as conn:
        async with conn.execute("SELECT name FROM sections WHERE id = 'road'") as cur:
            assert (await cur.fetchone())[0] == "道路"  # data survives the upgrade
    await db.close()


async def test_receipt_numbers_count_up_per_year_and_never_repeat(tmp_path):
    db = Database(tmp_path / "r.sqlite3")
    await db.open()

    async def take(year: int):
        return await db.write(lambda conn: subs.next_receipt_no(conn, year))

    got = await asyncio.gather(*[take(2026) for _ in range(50)])
    assert sorted(got) == [f"2026-{i:06d}" for i in range(1, 51)]
    assert await take(2027) == "2027-000001"
    await db.close()
    db = Database(tmp_path / "r.sqlite3")
    await db.open()
    assert await take(2026) == "2026-000051"  # survives restarts
    await db.close()


async def test_a_failing_job_does_not_undo_its_batch_neighbours(tmp_path):
    db = Database(tmp_path / "b.sqlite3")
    await db.open()

    async def good(conn):
        await conn.execute("INSERT INTO sections (id, name) VALUES ('a', 'A')")

    async def bad(conn):
        await conn.execute("INSERT INTO sections (id, name) VALUES ('b', 'B')")
        raise ValueError("boom")

    async def good2(conn):
        await conn.execute("INSERT INTO sections (id, name) VALUES ('c', 'C')")

    results = await asyncio.gather(db.write(good), db.write(bad), db.write(good2), return_exceptions=True)
    assert isinstance(results[1], ValueError)
    async with db.read() as conn:
        async with conn.execute("SELECT id FROM sections ORDER BY id") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["a", "c"]
    await db.close()


async def test_close_drains_queued_writes(tmp_path):
    db = Database(tmp_path / "c.sqlite3")
    await db.open()

    async def ins(conn, i=0):
        await conn.execute("INSERT INTO receipt_counters (year, last) VALUES (?, 0)", (3000 + i,))

    futures = [asyncio.ensure_future(db.write(lambda c, i=i: ins(c, i))) for i in range(100)]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*futures)
    with sqlite3.connect(tmp_path / "c.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM receipt_counters").fetchone()[0] == 100


async def test_readers_cannot_write(tmp_path):
    db = Database(tmp_path / "d.sqlite3")
    await db.open()
    async with db.read() as conn:
        with pytest.raises(sqlite3.OperationalError):
            await conn.execute("INSERT INTO sections (id, name) VALUES ('x', 'X')")
    await db.close()


async def test_a_lower_numbered_migration_arriving_later_is_still_applied(tmp_path):
    """Branches number migrations in separate ranges; a db that has the newest must still get the rest."""
    path = tmp_path / "gap.sqlite3"
    versions = [m.version for m in migrations.available()]
    assert len(versions) >= 3
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await migrations.migrate(conn, upto=versions[0])
        # Simulate a database that ran a later migration first (recorded) but not the middle ones.
        await conn.execute("INSERT INTO schema_version (version, name) VALUES (?, 'later')", (versions[-1],))
        missing = await migrations.missing_versions(conn)
        assert missing == versions[1:-1]
        applied = await migrations.migrate(conn)
        assert applied == versions[1:-1]
        assert await migrations.missing_versions(conn) == []
        assert await migrations.migrate(conn) == []
