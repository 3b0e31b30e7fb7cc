"""Wiring of the LINE side into the app: the route, the start-up/shutdown context, the notifier.

``setup(app)`` is called from ``create_app``. With no LINE settings only the route exists (it
answers 503) and the publish notifier still queues pushes, which go out once LINE is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.config import BotTuning, now, stamp
from bot.conversation import Conversation, Deps
from bot.gate import IntakeGate
from bot.inbox import InboxProcessor
from bot.line_api import LineApi
from bot.notify import make_notifier
from bot.sender import OutboxSender
from bot.submit import Submitter
from meyasubako import keys
from meyasubako.settings import Settings
from storage import line as line_db

log = logging.getLogger("meyasubako.bot")


class LineBot:
    def __init__(self, settings: Settings) -> None:
        assert settings.line_channel_secret and settings.line_channel_access_token
        self.settings = settings
        self.channel_secret = settings.line_channel_secret
        self.tuning = BotTuning()
        self.api: LineApi | None = None
        self.sender: OutboxSender | None = None
        self.inbox: InboxProcessor | None = None
        self.gate: IntakeGate | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()

    async def start(self, app: web.Application) -> None:
        self.tuning = app.get(keys.LINE_TUNING) or BotTuning()
        s = self.settings
        assert s.line_channel_access_token
        self.api = LineApi(s.line_channel_access_token, s.line_api_base, self.tuning)
        await self.api.open()
        db, workflow = app[keys.DB], app[keys.WORKFLOW]

        def section_name(section_id: str) -> str | None:
            sec = app[keys.SECTIONS].get(section_id)
            return sec.name if sec else None

        deps = Deps(
            db=db, api=self.api, tuning=self.tuning,
            submitter=Submitter(db, workflow, app[keys.SUBMIT_LIMITER]),
            files_dir=s.files_dir, base_url=s.base_url, section_name=section_name, analyze=workflow.nlp.analyze,
        )
        self.sender = OutboxSender(db, self.api, self.tuning)
        self.gate = IntakeGate(self.tuning.intake_wait_max)
        self.inbox = InboxProcessor(db, Conversation(deps), self.tuning, s.files_dir, app[keys.BACKGROUND],
                                    self.wake_sender, self.gate)
        self.sender.start()
        await self.inbox.recover()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="line-inbox-sweep")

    async def _sweep(self) -> None:
        assert self.inbox is not None
        while True:
            await asyncio.sleep(self.tuning.sweep_interval)
            try:
                await self.inbox.recover()
            except Exception:  # a storage hiccup: try again next round
                log.exception("event=line_sweep_failed")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.inbox is not None:
            await self.inbox.idle()  # every acknowledged event that is being processed finishes
        if self.sender is not None:
            await self.sender.stop()
        if self.api is not None:
            await self.api.close()


async def _line_ctx(app: web.Application) -> AsyncIterator[None]:
    bot = app.get(keys.LINE_BOT)
    settings = app[keys.SETTINGS]
    app[keys.WORKFLOW].notifiers.append(
        make_notifier(settings.base_url, bot.wake_sender if bot is not None else lambda: None)
    )
    if bot is not None:
        await bot.start(app)
        before = stamp(now() - timedelta(days=bot.tuning.inbox_retention_days))

        async def prune(conn):  # type: ignore[no-untyped-def]
            return await line_db.prune_inbox(conn, before)

        pruned = await app[keys.DB].write(prune)
        log.info("event=line_started api=%s inbox_pruned=%d", settings.line_api_base or "line", pruned)
    try:
        yield
    finally:
        if bot is not None:
            await bot.stop()


def setup(app: web.Application) -> None:
    from bot.webhook import webhook

    settings: Settings = app[keys.SETTINGS]
    if settings.line_enabled:
        app[keys.LINE_BOT] = LineBot(settings)
    app.router.add_post("/line/webhook", webhook)
    app.cleanup_ctx.append(_line_ctx)
