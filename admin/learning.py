"""The router learns from people: after a staff member or approver sets a section, retrain the
model on every person-set (text, section) pair, debounced so a burst of re-routes costs one
retrain. Also retrain once at start-up, and fill the staff similarity index from the database.

Several serve processes on one PostgreSQL database: one trains, all route with the result. A
retrain runs under the advisory lock "retrain" (``db.exclusive``), stores the model in
``shared_state`` with a new generation, and every process polls that generation (``POLL_SECONDS``)
and loads a newer model. A process that finds the lock taken leaves the work to its holder. With
SQLite (one process) the poll finds nothing new."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from meyasubako import clock, keys
from meyasubako.memory import freeze_long_lived
from nlp.router import LearnedModel
from storage import shared
from storage import staff as staff_db

log = logging.getLogger("meyasubako.admin.learning")

DEBOUNCE_SECONDS = 5.0  # wait this long for more re-routes before retraining
_PENDING = web.AppKey("retrain_pending", dict)  # {"task": the waiting retrain, "delay": seconds}


def set_debounce(app: web.Application, seconds: float) -> None:
    app[_PENDING]["delay"] = seconds


MODEL = "router_model"  # shared_state name
MODEL_FORMAT = 1  # bump when LearnedModel's meaning changes: older stored models are then retrained
POLL_SECONDS = 5.0
_LOADED = web.AppKey("router_model_generation", dict)  # {"generation": the stored model in use here}


def _dump(model: LearnedModel) -> str:
    return json.dumps({"format": MODEL_FORMAT, "n_examples": model.n_examples, "counts": model.counts,
                       "displays": model.displays}, ensure_ascii=False, separators=(",", ":"))


def _parse(body: str) -> LearnedModel | None:
    data = json.loads(body)
    if data.get("format") != MODEL_FORMAT:
        return None
    return LearnedModel(counts=data["counts"], displays=data["displays"], n_examples=int(data["n_examples"]))


async def retrain_now(app: web.Application) -> int:
    """Train on every person-set section, store the model for the other processes, use it here.

    Returns the number of examples, or 0 when there were none or another process holds the
    training lock (its model arrives through ``poll_once``)."""
    db, nlp = app[keys.DB], app[keys.NLP]
    async with db.exclusive("retrain") as mine:
        if not mine:
            log.info("event=retrain_skipped reason=another_process_trains")
            return 0
        async with db.read() as conn:
            examples = await staff_db.routing_examples(conn)
        if not examples:
            return 0
        model = await nlp.train(examples)
        body = _dump(model)

        async def store(conn):  # type: ignore[no-untyped-def]
            return await shared.store(conn, MODEL, body, clock.iso(clock.jst_now()))

        generation = await db.write(store)
    nlp.use_model(model)
    app[_LOADED]["generation"] = generation
    return len(examples)


async def poll_once(app: web.Application) -> bool:
    """Load the stored model if another process stored a newer one; True when one was loaded."""
    async with app[keys.DB].read() as conn:
        if await shared.generation(conn, MODEL) <= app[_LOADED].get("generation", 0):
            return False
        stored = await shared.load(conn, MODEL)
    if stored is None:
        return False
    generation, body = stored
    model = _parse(body)
    if model is None:  # written by another release: not ours to use
        return False
    app[keys.NLP].use_model(model)
    app[_LOADED]["generation"] = generation
    log.info("event=router_model_loaded generation=%d examples=%d", generation, model.n_examples)
    return True


async def _poll_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            await poll_once(app)
        except Exception:  # storage trouble: keep the current model, try again later
            log.exception("event=router_model_poll_failed")


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
    freeze_long_lived(app, "staff_index")


async def _startup(app: web.Application) -> AsyncIterator[None]:
    # Appended after the app's resources context, so the database and NLP are open here.
    try:
        n = await retrain_now(app)
        if n:
            log.info("event=retrain_startup examples=%d", n)
        else:
            await poll_once(app)  # another process is training: start with the model it stored last
    except Exception:  # start serving with the shipped model rather than not at all
        log.exception("event=retrain_startup_failed")
    warm = asyncio.create_task(_warm_index(app), name="warm-staff-index")
    app[keys.BACKGROUND].add(warm)
    warm.add_done_callback(app[keys.BACKGROUND].discard)
    poller = asyncio.create_task(_poll_forever(app), name="router-model-poll")
    yield
    poller.cancel()
    for task in (warm, app[_PENDING].get("task")):
        if task is not None and not task.done():
            task.cancel()


def setup(app: web.Application) -> None:
    app[_PENDING] = {"delay": DEBOUNCE_SECONDS}
    app[_LOADED] = {}
    app.cleanup_ctx.append(_startup)
