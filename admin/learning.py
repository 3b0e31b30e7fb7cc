"""The router learns from people: after a staff member or approver sets a section, retrain the
model on every person-set (text, section) pair, debounced so a burst of re-routes costs one
retrain. Also retrain once at start-up, and fill the staff similarity index from the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from meyasubako import keys
from storage import staff as staff_db

log = logging.getLogger("meyasubako.admin.learning")

DEBOUNCE_SECONDS = 5.0  # wait this long for more re-routes before retraining
_PENDING = web.AppKey("retrain_pending", dict)  # {"task": the waiting retrain, "delay": seconds}


def set_debounce(app: web.Application, seconds: float) -> None:
    app[_PENDING]["delay"] = seconds


async def retrain_now(app: web.Application) -> int:
    async with app[keys.DB].read() as conn:
        examples = await staff_db.routing_examples(conn)
    if not examples:
        return 0
    return await app[keys.NLP].retrain(examples)


def schedule_retrain(app: web.Application) -> None:
    """Retrain after the debounce delay; a later call within the delay replaces the waiting one."""
    pending = app[_PENDING]
    old = pending.get("task")
    if old is not None and not old.done():
        old.cancel()

    async def run() -> None:
        await asyncio.sleep(pending["delay"])
        try:
            n = await retrain_now(app)
            log.info("event=retrain_done examples=%d", n)
        except Exception:  # a failed retrain keeps the previous model; never break the request path
            log.exception("event=retrain_failed")

    task = asyncio.create_task(run(), name="retrain")
    pending["task"] = task
    app[keys.BACKGROUND].add(task)
    task.add_done_callback(app[keys.BACKGROUND].discard)


async def _warm_index(app: web.Application) -> None:
    """Similar-item search needs the staff index filled with the items stored before this start."""
    async with app[keys.DB].read() as conn:
        rows = await staff_db.staff_terms(conn)
    nlp = app[keys.NLP]
    for receipt_no, terms in rows:
        await nlp.index("staff", receipt_no, terms.split())
    log.info("event=staff_index_warmed items=%d", len(rows))


async def _startup(app: web.Application) -> AsyncIterator[None]:
    # Appended after the app's resources context, so the database and NLP are open here.
    try:
        n = await retrain_now(app)
        if n:
            log.info("event=retrain_startup examples=%d", n)
    except Exception:  # start serving with the shipped model rather than not at all
        log.exception("event=retrain_startup_failed")
    warm = asyncio.create_task(_warm_index(app), name="warm-staff-index")
    app[keys.BACKGROUND].add(warm)
    warm.add_done_callback(app[keys.BACKGROUND].discard)
    yield
    for task in (warm, app[_PENDING].get("task")):
        if task is not None and not task.done():
            task.cancel()


def setup(app: web.Application) -> None:
    app[_PENDING] = {"delay": DEBOUNCE_SECONDS}
    app.cleanup_ctx.append(_startup)
