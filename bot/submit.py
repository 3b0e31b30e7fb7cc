"""Turning a finished draft into a submission through the workflow, idempotently.

``Workflow.receive`` commits in its own transaction, before the processor's transaction that
marks the draft submitted, queues the 受付番号 reply and marks the event processed. If the process
dies in between, the event is processed again: the draft is still open, the same client key
finds the submission already stored, and the resident gets exactly one receipt.
"""

from __future__ import annotations

import logging

import aiosqlite

from bot import messages
from bot.config import now, stamp
from bot.effects import Effects
from meyasubako.domain import Channel, DomainError, NewSubmission
from meyasubako.ratelimit import RateLimiter
from meyasubako.workflow import Workflow
from storage import attachments as att_db
from storage import line as line_db
from storage import submissions as subs
from storage.db import Database

log = logging.getLogger("meyasubako.bot.submit")


def client_key(draft_id: str) -> str:
    return f"line-draft:{draft_id}"


class Submitter:
    def __init__(self, db: Database, workflow: Workflow, limiter: RateLimiter) -> None:
        self.db = db
        self.workflow = workflow
        self.limiter = limiter

    async def submit(self, user_id: str, draft: line_db.Draft) -> Effects:
        items = messages.draft_items(draft.id, draft.consent)
        if not draft.text.strip():
            return Effects("send:no_text", [messages.text(messages.NEED_TEXT, items)])
        key = client_key(draft.id)
        async with self.db.read() as conn:
            existing = await subs.by_client_key(conn, key)
        # A replay after a crash must not be refused by the limiter: the submission already exists.
        if existing is None and not self.limiter.allow(f"line:{user_id}"):
            seconds = self.limiter.retry_after(f"line:{user_id}")
            log.info("event=line_rate_limited user=%s", user_id)
            return Effects("send:rate_limited", [messages.text(messages.RATE_LIMITED.format(seconds=seconds), items)])
        consent = bool(draft.consent)
        try:
            receipt = await self.workflow.receive(NewSubmission(
                channel=Channel.LINE, text=draft.text, consent=consent, place=draft.place, lat=draft.lat,
                lon=draft.lon, line_user_id=user_id, client_key=key,
            ))
        except DomainError as exc:  # e.g. text rules tightened since the draft was written
            return Effects("send:invalid", [messages.text(exc.message, items)])
        sub = receipt.submission
        fx = Effects("send:duplicate" if receipt.duplicate else "send", submission_id=sub.id)

        async def w(conn: aiosqlite.Connection) -> None:
            ts = stamp(now())
            await line_db.update_draft(conn, draft.id, ts, state="submitted", submission_id=sub.id)
            await line_db.set_current_draft(conn, user_id, None, ts)
            await att_db.attach_draft_to_submission(conn, draft.id, sub.id)

        fx.write(w)
        fx.replies.append(messages.text(messages.receipt(sub.receipt_no, sub.consent)))
        return fx
