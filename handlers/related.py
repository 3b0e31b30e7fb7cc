"""Related published items: the public similarity index, rebuilt at start-up, and its lookups.

The workflow adds an item to the in-memory public index when it publishes it; that index is gone
after a restart, so a start-up task reloads every published item's public terms (要旨 + answer,
as stored in ``public_fts``) in batches. Lookups always re-read the items from storage with the
``published`` condition, so an item unpublished while the index was being rebuilt is never shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator

from aiohttp import web

from meyasubako import keys
from storage import public as pub

log = logging.getLogger("meyasubako.related")

PUBLIC_INDEX_READY = web.AppKey("public_index_ready", asyncio.Event)
# BM25 over a large index costs up to ~0.1 s per lookup, and an item's related items change only
# when something is published or taken down: cache them per item, keyed also by the index size.
RELATED_CACHE = web.AppKey("related_cache", OrderedDict)
CACHE_ITEMS = 4096
REBUILD_BATCH = 1000
MIN_SCORE = 0.15  # below this, "related" items share little more than a common word


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
    """cleanup_ctx step (after the resources): rebuild the public similarity index in the background."""
    ready = app[PUBLIC_INDEX_READY] = asyncio.Event()
    app[RELATED_CACHE] = OrderedDict()

    async def run() -> None:
        try:
            n = await _rebuild(app)
            log.info("event=public_index_rebuilt items=%d", n)
        except Exception:  # the board works without related items; say so and carry on
            log.exception("event=public_index_rebuild_failed")
        finally:
            ready.set()

    task = asyncio.create_task(run(), name="public-index-rebuild")
    try:
        yield
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def related_items(app: web.Application, terms: list[str], *, exclude: str | None = None,
                        k: int = 5) -> list[tuple[pub.PublicItem, float]]:
    """Published items most similar to ``terms`` (best first), re-checked against storage."""
    if not terms:
        return []
    nlp = app[keys.NLP]
    cache = app[RELATED_CACHE]
    key = (exclude, k, len(nlp.indexes["public"])) if exclude else None  # item pages only, not free text
    if key is not None and key in cache:
        cache.move_to_end(key)
        hits = cache[key]
    else:
        hits = await nlp.similar_to("public", terms, k=k, exclude=exclude)
        hits = [(r, s) for r, s in hits if s >= MIN_SCORE]
        if key is not None:
            cache[key] = hits
            if len(cache) > CACHE_ITEMS:
                cache.popitem(last=False)
    if not hits:
        return []
    async with app[keys.DB].read() as conn:
        items = await pub.by_receipts(conn, [r for r, _ in hits])
    score = dict(hits)
    return [(i, score[i.receipt_no]) for i in items]
