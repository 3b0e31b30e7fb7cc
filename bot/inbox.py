"""Processing stored webhook events: one user's events strictly in order, different users at once.

Each user with pending events gets one worker task (tracked in ``app[keys.BACKGROUND]``) that
takes the user's oldest unprocessed event, handles it, and applies the effects in ONE transaction
that also marks the event processed. The webhook kicks the worker after storing events; start-up
and a slow sweep kick every user with leftovers (crash recovery, transient storage errors).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

import aiosqlite
from linebot.v3.webhooks import Event

from bot import media, messages
from bot.config import BotTuning, now, parse, stamp
from bot.conversation import Conversation
from bot.effects import Effects
from bot.gate import IntakeGate
from storage import line as line_db
from storage import outbox as outbox_db
from storage.db import Database
from storage.errors import StorageUnavailable

log = logging.getLogger("meyasubako.bot.inbox")


class InboxProcessor:
    def __init__(self, db: Database, conversation: Conversation, tuning: BotTuning, files_dir,  # type: ignore[no-untyped-def]
                 background: set[asyncio.Task[None]], wake_sender: Callable[[], None],
                 gate: IntakeGate | None = None) -> None:
        self.db = db
        self.chat = conversation
        self.tuning = tuning
        self.files_dir = files_dir
        self.background = background
        self.wake_sender = wake_sender
        self.gate = gate
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._sem = asyncio.Semaphore(tuning.process_concurrency)
        self.processed = 0

    # -- scheduling -----------------------------------------------------------------------------------
    def kick(self, user_id: str) -> None:
        """Make sure ``user_id``'s pending events get processed (idempotent)."""
        if user_id in self._workers:
            self._dirty.add(user_id)  # the running worker looks again before it exits
            return
        task = asyncio.get_running_loop().create_task(self._worker(user_id), name=f"line-user-{user_id[:8]}")
        self._workers[user_id] = task
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def recover(self) -> int:
        """Kick every user with events left unprocessed (after a crash or a storage outage)."""
        async with self.db.read() as conn:
            users = await line_db.pending_users(conn)
        for user_id in users:
            self.kick(user_id)
        if users:
            log.info("event=line_inbox_recover users=%d", len(users))
        return len(users)

    async def idle(self) -> None:
        """Wait until no worker is running (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def _worker(self, user_id: str) -> None:
        try:
            while True:
                self._dirty.discard(user_id)
                async with self.db.read() as conn:
                    row = await line_db.next_pending(conn, user_id)
                if row is None:
                    if user_id in self._dirty:
                        continue
                    return  # no await between this check and leaving _workers: a kick cannot be lost
                if self.gate is not None:  # acknowledgements first (bot/gate.py)
                    await self.gate.quiet((now() - parse(row.received_at)).total_seconds())
                async with self._sem:
                    ok = await self._process(row)
                if not ok:
                    return  # storage trouble: the sweep tries again later
        except StorageUnavailable as exc:
            log.error("event=line_inbox_unavailable user=%s error=%s", user_id, exc)
        except Exception:
            log.exception("event=line_worker_crashed user=%s", user_id)
        finally:
            self._workers.pop(user_id, None)

    # -- one event --------------------------------------------------------------------------------------
    async def _process(self, row: line_db.InboxRow) -> bool:
        user_id = row.user_id or ""
        try:
            event = Event.from_dict(row.body)
        except (ValueError, TypeError, KeyError):
            event = None
        try:
            if event is None:
                fx = self._unparseable(row)
            else:
                fx = await self.chat.handle(user_id, event)
        except StorageUnavailable:
            return False
        except Exception:
            log.exception("event=line_event_failed seq=%d type=%s", row.seq, row.type)
            fx = Effects("error", [messages.text(messages.ERROR)])
        try:
            applied = await self.db.write(self._apply_job(row, fx))
        except StorageUnavailable:
            await media.remove(self.files_dir, fx.created_files)
            return False
        except Exception:
            # The effects themselves failed (a bug or a constraint): record it, tell the resident,
            # and move on so that one bad event does not block this user's later ones.
            log.exception("event=line_apply_failed seq=%d outcome=%s", row.seq, fx.outcome)
            await media.remove(self.files_dir, fx.created_files)
            fx = Effects("error:apply", [messages.text(messages.ERROR)])
            applied = await self.db.write(self._apply_job(row, fx))
        if not applied:  # someone else processed it meanwhile (cannot happen with one worker per user)
            await media.remove(self.files_dir, fx.created_files)
            return True
        await media.remove(self.files_dir, fx.delete_files)
        self.processed += 1
        log.info("event=line_event_processed seq=%d type=%s outcome=%s redelivery=%s",
                 row.seq, row.type, fx.outcome, row.redelivery)
        if fx.replies:
            self.wake_sender()
        return True

    def _apply_job(self, row: line_db.InboxRow, fx: Effects):  # type: ignore[no-untyped-def]
        reply_token = row.body.get("replyToken") if isinstance(row.body.get("replyToken"), str) else None

        async def job(conn: aiosqlite.Connection) -> bool:
            if await line_db.is_processed(conn, row.seq):
                return False
            for w in fx.writes:
                await w(conn)
            if fx.replies and row.user_id:
                ts = stamp(now())
                await outbox_db.enqueue(
                    conn, kind="reply" if reply_token else "push", recipient=row.user_id,
                    messages=fx.replies[-5:], retry_key=str(uuid.uuid4()), now=ts, reply_token=reply_token,
                    reply_deadline=row.reply_deadline if reply_token else None, submission_id=fx.submission_id,
                )
            await line_db.mark_processed(conn, row.seq, fx.outcome, stamp(now()))
            return True

        return job

    @staticmethod
    def _unparseable(row: line_db.InboxRow) -> Effects:
        # The SDK did not recognize the event (a new message type, or a field it requires is
        # missing). A message still deserves a polite answer; anything else is recorded only,
        # with the outcome the webhook gives an event type the SDK does not know at all.
        if row.type == "message":
            return Effects("unsupported:unknown", [messages.text(messages.UNSUPPORTED)])
        return Effects(f"ignored:unknown:{row.type}")
