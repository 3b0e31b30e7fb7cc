"""Related published items: the public similarity index and each item's stored list.

The public BM25 index (nlp/similarity.py) holds every published item's public terms (要旨 +
answer, as stored in ``public_fts``). It lives in memory, so a start-up task reloads it in batches.

An item page shows the item's related items from a list stored in the database (migration 0090),
not from a search at view time. Searching costs 1-4 ms of the single NLP thread at 100k items;
when first views piled up (a link shared on social media, a crawler) they queued there, and item
pages missed their p99 target (issue #7). A list is computed:

* when the item is published (before the staff member's action returns), and the lists of the
  items on it are computed again soon after, since the new item is likely related to them too;
* for every item on whose list an unpublished (or closed) item stood;
* in background sweeps, newest first: after a start, and whenever the board has grown by a quarter
  since the last sweep, for every published item that has no list (published before this existed,
  or while the index was being rebuilt) or whose list was computed when the board was less than
  4/5 of its present size (BM25 weighs words by how rare they are on the whole board, so lists from
  a small board are poor once it has grown);
* soon, when somebody opens an item page that has none (the page says so and is not cached).

Lists are computed only once the index is complete (after the rebuild), or they would miss items.
The page re-reads the related items with the ``published`` condition, so an item taken down is
never shown even before the lists naming it are computed again. Between sweeps, a publication
refreshes only the lists of the items on the new item's own list: an older item for which the new
one would rank, say, fifth but which is not among the new item's five keeps its list until the
next sweep. With several processes (PostgreSQL) one of them fills the lists at a
time (advisory lock); each computes the lists of what its own staff publish.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from meyasubako import clock, keys
from meyasubako.memory import freeze_long_lived
from meyasubako.nlp_service import NlpService
from storage import public as pub
from storage.db import Database

log = logging.getLogger("meyasubako.related")

K = 5               # related items per item page
MIN_SCORE = 0.15    # below this, "related" items share little more than a common word
REBUILD_BATCH = 1000
BATCH = 64          # lists computed per database write
FILL_PAUSE = 0.25   # a sweep rests this fraction of its working time (requests come first)
GROWTH = 1.25       # lists are computed again once the board has grown by a quarter since
MAX_WANTED = 10_000  # item pages asking for a list; beyond this the fill reaches them in its own order
RETRY_S = 1.0


class RelatedLists:
    """Computes and stores related-items lists; one per process, owned by the app."""

    def __init__(self, db: Database, nlp: NlpService, *, now: clock.Clock = clock.jst_now) -> None:
        self.db = db
        self.nlp = nlp
        self.now = now
        self.complete = False  # the public index holds every published item
        self.filled = 0        # lists the background sweeps computed (logs, tests)
        self.fill_done = False  # the first sweep after the start is over
        self._swept_size: int | None = None  # index size at the last sweep
        self._wanted: dict[int, None] = {}  # ids whose list is to be computed, in order of asking
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()

    # -- asked by the workflow and the item pages -------------------------------------------------
    def want(self, sub_ids: Iterable[int]) -> None:
        for sub_id in sub_ids:
            if len(self._wanted) >= MAX_WANTED:
                break
            self._wanted[sub_id] = None
        if self._wanted:
            self._idle.clear()
            self._wake.set()

    async def published(self, sub_id: int) -> None:
        """After an item was published and indexed: its own list now, its neighbours' soon.

        Never raises: the publication is committed, and a list that could not be computed now
        (a storage outage) is left to the worker."""
        if not self.complete:
            self.want([sub_id])
            return
        try:
            await self.compute([sub_id])
            async with self.db.read() as conn:
                neighbours = await pub.related_ids(conn, sub_id)
        except Exception:
            log.exception("event=related_compute_failed id=%d", sub_id)
            neighbours = [sub_id]
        self.want(neighbours)
        self._idle.clear()
        self._wake.set()  # the board grew: a sweep may be due

    async def withdrawn(self, sub_id: int) -> None:
        """After an item left the board: the lists that named it are computed again. Never raises:
        pages re-check publication, so a list not recomputed only shows one item fewer."""
        try:
            async with self.db.read() as conn:
                holders = await pub.listed_by(conn, sub_id)
        except Exception:
            log.exception("event=related_withdraw_failed id=%d", sub_id)
            return
        self.want(holders)

    async def compute(self, sub_ids: Iterable[int]) -> int:
        """Compute and store the lists of those of ``sub_ids`` that are published; how many were stored."""
        async with self.db.read() as conn:
            rows = await pub.terms_of(conn, sorted(set(sub_ids)))
        return await self._compute_rows(rows)

    async def _compute_rows(self, rows: list[pub.TermsRow]) -> int:
        if not rows:
            return 0
        lists: dict[int, list[tuple[str, float]]] = {}
        for sub_id, receipt_no, terms in rows:
            hits = await self.nlp.similar_to("public", terms, k=K, exclude=receipt_no)
            lists[sub_id] = [(r, s) for r, s in hits if s >= MIN_SCORE]
        size = len(self.nlp.indexes["public"])
        now = clock.iso(self.now())

        async def job(conn: object) -> int:
            return await pub.store_related(conn, lists, now=now, index_size=size)  # type: ignore[arg-type]

        return await self.db.write(job)

    async def idle(self) -> None:
        """Until nothing is left to compute (tests, benchmark)."""
        await self._idle.wait()

    # -- the background worker ----------------------------------------------------------------------
    def _sweep_due(self) -> bool:
        size = len(self.nlp.indexes["public"])
        return self._swept_size is None or (size > self._swept_size and size * 4 >= self._swept_size * 5)

    async def run(self) -> None:
        """Serve what is asked for; sweep when the board has grown. Runs until cancelled."""
        self.complete = True
        while True:
            if self._sweep_due():
                size = len(self.nlp.indexes["public"])
                async with self.db.exclusive("related-fill") as mine:
                    if mine:  # PostgreSQL: else another process is sweeping the same database
                        await self._sweep(stale_below=math.ceil(size / GROWTH))
                self._swept_size = size
                if not self.fill_done:
                    self.fill_done = True
                    log.info("event=related_lists_ready filled=%d", self.filled)
            await self._serve_wanted()
            self._wake.clear()
            if not self._wanted and not self._sweep_due():
                self._idle.set()
                await self._wake.wait()

    async def _serve_wanted(self) -> None:
        while self._wanted:
            ids = list(self._wanted)[:BATCH]
            for sub_id in ids:
                del self._wanted[sub_id]
            try:
                await self.compute(ids)
            except Exception:  # storage outage: keep the ids and try again later
                log.exception("event=related_compute_failed ids=%d", len(ids))
                self.want(ids)
                await asyncio.sleep(RETRY_S)

    async def _sweep(self, *, stale_below: int) -> None:
        """Compute every missing list, and those computed on an index smaller than ``stale_below``."""
        before: int | None = None
        started, done = time.monotonic(), 0
        while True:
            await self._serve_wanted()  # an item page or a publication waits for no backlog
            t0 = time.monotonic()
            try:
                async with self.db.read() as conn:
                    rows = await pub.lists_to_compute(conn, before, stale_below=stale_below, limit=BATCH)
                if not rows:
                    break
                done += await self._compute_rows(rows)
                before = rows[-1][0]
            except Exception:
                log.exception("event=related_sweep_failed")
                await asyncio.sleep(RETRY_S)
                continue
            await asyncio.sleep(FILL_PAUSE * (time.monotonic() - t0))
        self.filled += done
        if done:
            log.info("event=related_swept lists=%d seconds=%.1f", done, time.monotonic() - started)


RELATED = web.AppKey("related_lists", RelatedLists)
PUBLIC_INDEX_READY = web.AppKey("public_index_ready", asyncio.Event)


async def _rebuild(app: web.Application) -> int:
    db, nlp = app[keys.DB], app[keys.NLP]
    n = last = 0
    while True:
        async with db.read() as conn:  # a reader is held per batch only, not for the whole rebuild
            batch = await pub.public_terms_after(conn, last, REBUILD_BATCH)
        if not batch:
            return n
        for _, receipt_no, terms in batch:
            if receipt_no not in nlp.indexes["public"]:  # newer entries from the workflow win
                await nlp.index("public", receipt_no, terms)
        n += len(batch)
        last = batch[-1][0]


async def public_index_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx step (after the resources): rebuild the public index, then keep the lists."""
    ready = app[PUBLIC_INDEX_READY] = asyncio.Event()
    related = app[RELATED]
    worker: asyncio.Task[None] | None = None

    async def run() -> None:
        nonlocal worker
        try:
            n = await _rebuild(app)
            log.info("event=public_index_rebuilt items=%d", n)
            freeze_long_lived(app, "public_index")
            worker = asyncio.create_task(related.run(), name="related-lists")
        except Exception:  # the board works without related items (pages say so); say it here
            log.exception("event=public_index_rebuild_failed")
        finally:
            ready.set()

    task = asyncio.create_task(run(), name="public-index-rebuild")
    try:
        yield
    finally:
        for t in (task, worker):
            if t is not None and not t.done():
                t.cancel()
        await asyncio.gather(*(t for t in (task, worker) if t is not None), return_exceptions=True)
