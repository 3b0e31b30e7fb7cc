"""Related published items: the public similarity index, rebuilt at start-up, and its lookups.

The workflow adds an item to the in-memory public index when it publishes it; that index is gone
after a restart, so a start-up task reloads every published item's public terms (要旨 + answer,
as stored in ``public_fts``) in batches. Lookups always re-read the items from storage with the
``published`` condition, so an item unpublished while the index was being rebuilt is never shown.

An item page does not wait long for its related items when first views pile up: a lookup runs on
the single NLP thread (~1-5 ms at 100k items, see nlp/similarity.py), and many first views at once
queue there. While other lookups are queued, a page waits at most ``RELATED_BUDGET_S`` (a lone
lookup, the usual case, up to ``SOLO_BUDGET_S``); then it is rendered without the list, with links
to search instead, and kept out of the page cache. The lookup carries on in the background and
fills the cache, so the next view is complete. At most ``MAX_PENDING`` lookups are queued; beyond
that a first view renders the fallback at once instead of lengthening the queue (issue #7).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator

from aiohttp import web

from meyasubako import keys
from meyasubako.memory import freeze_long_lived
from storage import public as pub

log = logging.getLogger("meyasubako.related")

PUBLIC_INDEX_READY = web.AppKey("public_index_ready", asyncio.Event)
# A lookup is a few ms even at 100k items (nlp/similarity.py), but first views can pile up on the
# one NLP thread, and an item's related items change only when something is published or taken
# down: cache them per item, keyed also by the index size.
RELATED_CACHE = web.AppKey("related_cache", OrderedDict)
RELATED_PENDING = web.AppKey("related_pending", dict)  # cache key → the lookup task filling it
CACHE_ITEMS = 4096
RELATED_BUDGET_S = 0.05  # while other lookups are queued
SOLO_BUDGET_S = 0.08     # the only lookup in flight (~1-5 ms); longer means the NLP thread is busy elsewhere
MAX_PENDING = 64
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
    pending: dict[object, asyncio.Task[list[tuple[str, float]]]] = {}
    app[RELATED_PENDING] = pending

    async def run() -> None:
        try:
            n = await _rebuild(app)
            log.info("event=public_index_rebuilt items=%d", n)
            freeze_long_lived(app, "public_index")
        except Exception:  # the board works without related items; say so and carry on
            log.exception("event=public_index_rebuild_failed")
        finally:
            ready.set()

    task = asyncio.create_task(run(), name="public-index-rebuild")
    try:
        yield
    finally:
        lookups = list(pending.values())
        for t in [task, *lookups]:
            if not t.done():
                t.cancel()
        await asyncio.gather(task, *lookups, return_exceptions=True)


async def _lookup(app: web.Application, key: tuple[object, ...] | None, terms: list[str], exclude: str | None,
                  k: int) -> list[tuple[str, float]]:
    hits = await app[keys.NLP].similar_to("public", terms, k=k, exclude=exclude)
    hits = [(r, s) for r, s in hits if s >= MIN_SCORE]
    if key is not None:
        cache = app[RELATED_CACHE]
        cache[key] = hits
        if len(cache) > CACHE_ITEMS:
            cache.popitem(last=False)
    return hits


def _forget(pending: dict[object, asyncio.Task[list[tuple[str, float]]]], key: object) -> None:
    task = pending.pop(key, None)
    if task is not None and not task.cancelled() and task.exception() is not None:
        # Nobody may be waiting any more: say it here (the next view of the page tries again).
        log.warning("event=related_lookup_failed key=%s error=%r", key, task.exception())


async def related_items(app: web.Application, terms: list[str], *, exclude: str | None = None,
                        k: int = 5, deferrable: bool = False) -> list[tuple[pub.PublicItem, float]] | None:
    """Published items most similar to ``terms`` (best first), re-checked against storage.

    ``deferrable`` (item pages): wait for a lookup that is not cached only within the budgets
    above; None when it did not finish in time (it goes on in the background and fills the
    cache). Otherwise (the web form's similar answers) the caller waits for the lookup.
    """
    if not terms:
        return []
    nlp = app[keys.NLP]
    cache = app[RELATED_CACHE]
    key = (exclude, k, len(nlp.indexes["public"])) if exclude else None  # item pages only, not free text
    if key is not None and key in cache:
        cache.move_to_end(key)
        hits = cache[key]
    elif not deferrable or key is None:
        hits = await _lookup(app, key, terms, exclude, k)
    else:
        pending = app[RELATED_PENDING]
        task = pending.get(key)
        if task is None:
            if len(pending) >= MAX_PENDING:
                log.info("event=related_deferred receipt=%s reason=queue", exclude)
                return None
            task = asyncio.create_task(_lookup(app, key, terms, exclude, k), name=f"related-{exclude}")
            pending[key] = task
            task.add_done_callback(lambda _t, key=key: _forget(pending, key))
        budget = RELATED_BUDGET_S if len(pending) > 1 else SOLO_BUDGET_S
        done, _ = await asyncio.wait({task}, timeout=budget)
        if not done:
            log.info("event=related_deferred receipt=%s reason=budget", exclude)
            return None
        hits = task.result()
    if not hits:
        return []
    async with app[keys.DB].read() as conn:
        items = await pub.by_receipts(conn, [r for r, _ in hits])
    score = dict(hits)
    return [(i, score[i.receipt_no]) for i in items]
