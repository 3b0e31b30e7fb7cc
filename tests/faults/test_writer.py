"""The single writer must survive every failure of a batch: it is the only way data gets in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.db import Database
from storage.errors import StorageUnavailable


async def _insert(conn) -> int:  # type: ignore[no-untyped-def]
    await conn.execute("INSERT INTO receipt_counters (year, last) VALUES (1999, 1)"
                       " ON CONFLICT (year) DO UPDATE SET last = last + 1")
    return 1


async def test_writer_survives_a_refused_begin_with_a_cancelled_caller(tmp_path: Path) -> None:
    """A caller that went away (client disconnect, shutdown timeout) while the database refused BEGIN
    used to kill the writer task (InvalidStateError on the cancelled future): from then on every
    write answered 503 until a restart, even after the disk recovered."""
    db = Database(tmp_path / "w.sqlite3")
    await db.open()
    try:
        await db._writer.execute("PRAGMA query_only = ON")  # BEGIN IMMEDIATE now fails (read-only)
        gone = asyncio.create_task(db.write(_insert))
        await asyncio.sleep(0)  # queued...
        gone.cancel()  # ...and its caller is gone before the writer gets to it
        waiting = asyncio.create_task(db.write(_insert))
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(waiting, 5)  # before the fix: no answer at all, ever
        with pytest.raises(asyncio.CancelledError):
            await gone
        await db._writer.execute("PRAGMA query_only = OFF")  # the disk is back
        assert await asyncio.wait_for(db.write(_insert), 5) == 1
    finally:
        await db.close()


async def test_writer_survives_a_failed_commit_with_a_cancelled_caller(tmp_path: Path) -> None:
    db = Database(tmp_path / "w.sqlite3")
    await db.open()
    try:
        async def fill(conn):  # type: ignore[no-untyped-def]
            async with conn.execute("PRAGMA page_count") as cur:
                pages = (await cur.fetchone())[0]
            await conn.execute(f"PRAGMA max_page_count = {pages}")

        await db.write(fill)

        async def big(conn):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)  # the caller gives up while the job runs
            await conn.execute("CREATE TABLE filler (x)")
            await conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 4000,) for _ in range(50)])

        gone = asyncio.create_task(db.write(big))
        await asyncio.sleep(0.01)
        gone.cancel()
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(db.write(big), 5)

        async def unfill(conn):  # type: ignore[no-untyped-def]
            await conn.execute("PRAGMA max_page_count = 1073741823")

        await db.write(unfill)
        assert await asyncio.wait_for(db.write(_insert), 5) == 1
    finally:
        await db.close()
