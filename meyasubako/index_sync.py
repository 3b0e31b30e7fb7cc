"""Keep this process's in-memory similarity indexes in step with items other processes added.

Each process holds two BM25 indexes (staff: every item; public: published items) filled at start
and updated by its own workflow. With several processes on one PostgreSQL database, an item that
another process received or published would be missing here until a restart: staff would not see
it among "similar items", residents would not see it among related answers. This loop reads what
is new every ``INTERVAL`` seconds and indexes it (indexing is idempotent). Removals need no sync:
related and similar items are re-checked against the database before they are shown, so an item
unpublished elsewhere is never displayed from a stale entry.

Commits from several processes do not arrive in id or timestamp order (a transaction that took a
lower id may commit later), so each read reaches back ``OVERLAP_IDS`` ids / ``OVERLAP`` of
publication time behind the newest entry seen. SQLite is served by one process: no loop there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from meyasubako import keys
from storage import public as pub
from storage import staff as staff_db

log = logging.getLogger("meyasubako.index_sync")

INTERVAL = 5.0
OVERLAP_IDS = 500
OVERLAP = dt.timedelta(minutes=2)
BATCH = 500


class IndexSync:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.staff_after = 0
        self.public_since = ""

    async def start_points(self) -> None:
        async with self.app[keys.DB].read() as conn:
            self.staff_after, self.public_since = await pub.newest_marks(conn)

    async def once(self) -> int:
        """One pass over both indexes; returns how many entries it (re)indexed."""
        db, nlp = self.app[keys.DB], self.app[keys.NLP]
        n = 0
        after = max(0, self.staff_after - OVERLAP_IDS)
        while True:
            async with db.read() as conn:
                rows = await staff_db.staff_terms_after(conn, after, BATCH)
            for sub_id, receipt_no, terms in rows:
                if receipt_no not in nlp.indexes["staff"]:
                    await nlp.index("staff", receipt_no, terms.split())
                    n += 1
                self.staff_after = max(self.staff_after, sub_id)
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
        since = _minus(self.public_since, OVERLAP)
        while True:
            async with db.read() as conn:
                found = await pub.public_terms_published_since(conn, since, BATCH)
            for published_at, receipt_no, terms in found:
                if receipt_no not in nlp.indexes["public"]:
                    await nlp.index("public", receipt_no, terms)
                    n += 1
                self.public_since = max(self.public_since, published_at)
            if len(found) < BATCH:
                break
            since = found[-1][0]
        if n:
            log.info("event=index_sync indexed=%d", n)
        return n


def _minus(iso: str, delta: dt.timedelta) -> str:
    if not iso:
        return ""
    try:
        return (dt.datetime.fromisoformat(iso) - delta).isoformat()
    except ValueError:
        return ""


INDEX_SYNC = web.AppKey("index_sync", IndexSync)


async def index_sync_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx step after the resources: only with PostgreSQL (several processes)."""
    if not app[keys.SETTINGS].is_postgres:
        yield
        return
    sync = app[INDEX_SYNC] = IndexSync(app)
    await sync.start_points()

    async def loop() -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                await sync.once()
            except Exception:  # storage trouble: the indexes stay as they are until the next pass
                log.exception("event=index_sync_failed")

    task = asyncio.create_task(loop(), name="index-sync")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
