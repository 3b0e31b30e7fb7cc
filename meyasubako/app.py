"""``create_app(settings)``: wires storage, nlp, the workflow and the three web rooms together."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

import admin.attachments
import admin.residents
import admin.views
import bot.service
import handlers.board
import handlers.feeds
import handlers.health
import handlers.open311
import handlers.opendata
import handlers.public
import handlers.similar
import handlers.stats
from meyasubako import keys, ops
from meyasubako.catalog import load_sections
from meyasubako.index_sync import index_sync_ctx
from meyasubako.nlp_service import NlpService
from meyasubako.ratelimit import RateLimiter
from meyasubako.related import RELATED, RelatedLists, public_index_ctx
from meyasubako.settings import Settings
from meyasubako.web import (
    STATIC_DIR,
    errors,
    make_templates,
    request_log,
    security_headers,
    security_headers_on_prepare,
)
from meyasubako.workflow import Workflow
from storage import sections as sections_db
from storage.connect import make_database

log = logging.getLogger("meyasubako.app")


def _session_key(secret: str) -> bytes:
    # Fernet wants 32 bytes (aiohttp-session base64-encodes raw bytes itself); derive them from the
    # one secret so the operator manages a single key.
    return hashlib.sha256(("session:" + secret).encode()).digest()


async def reload_sections(app: web.Application) -> None:
    async with app[keys.DB].read() as conn:
        secs = await sections_db.all_sections(conn)
    # Mutate in place: replacing app state after start-up is deprecated in aiohttp.
    current = app[keys.SECTIONS]
    current.clear()
    current.update({s.id: s for s in secs if s.active})
    app[keys.WORKFLOW].deadline_days = {s.id: s.deadline_days for s in secs if s.active}


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    catalog = load_sections()
    db = make_database(settings.db)
    await db.open()
    loop = asyncio.get_running_loop()
    nlp = await loop.run_in_executor(None, NlpService, catalog)  # builds the Sudachi dictionary once
    app[keys.DB] = db
    app[keys.NLP] = nlp

    async def seed(conn):  # type: ignore[no-untyped-def]
        return await sections_db.seed(conn, catalog)

    await db.write(seed)
    app[keys.WORKFLOW] = Workflow(db, nlp)
    app[RELATED] = app[keys.WORKFLOW].related = RelatedLists(db, nlp)
    await reload_sections(app)
    log.info("event=started db=%s schema=%d line=%s", db.dialect if settings.is_postgres else settings.db_path,
             await db.schema_version(),
             settings.line_enabled)
    try:
        yield
    finally:
        tasks = app[keys.BACKGROUND]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await db.close()  # drains queued writes first
        nlp.close()
        log.info("event=stopped")


def create_app(settings: Settings) -> web.Application:
    settings.validate()
    storage = EncryptedCookieStorage(
        _session_key(settings.secret_key),
        cookie_name="meyasubako_session",
        httponly=True,
        samesite="Lax",
        secure=settings.base_url.startswith("https://"),
        max_age=None,
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[session_middleware(storage), security_headers, request_log,
                     errors],
    )
    app.on_response_prepare.append(security_headers_on_prepare)
    app[keys.SETTINGS] = settings
    app[keys.TEMPLATES] = make_templates()
    app[keys.SUBMIT_LIMITER] = RateLimiter(settings.rate_limit)
    app[keys.SECTIONS] = {}
    app[keys.BACKGROUND] = set()
    app.cleanup_ctx.append(ops.serve_lock)  # before the database opens: restore refuses a served database
    app.cleanup_ctx.append(_resources)
    app.cleanup_ctx.append(public_index_ctx)  # after _resources: it reads the db into the nlp index
    app.cleanup_ctx.append(index_sync_ctx)  # PostgreSQL: items other processes added reach this one's indexes
    app.cleanup_ctx.append(ops.scheduled_jobs)  # nightly backup, daily retention (when configured)
    handlers.public.setup_routes(app)
    handlers.health.setup_routes(app)
    for public_side in (handlers.board, handlers.stats, handlers.feeds, handlers.opendata, handlers.open311,
                        handlers.similar):
        public_side.setup_routes(app)
    admin.views.setup_routes(app)
    admin.attachments.setup_routes(app)
    bot.service.setup(app)  # POST /line/webhook (503 without LINE settings), outbox sender, notifier
    admin.residents.setup_routes(app)
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    return app
