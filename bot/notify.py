"""The workflow notifier: when staff publish an answer (or close an item that has one), queue a push.

It runs inside the workflow's transaction, so the push row is committed together with the change
and cannot be lost or sent for a change that rolled back. The retry key is derived from the
submission, the kind of notice and the answer text: publishing the same answer again (after an
unpublish) queues nothing new, while a corrected answer is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable

import aiosqlite

from bot import messages
from bot.config import now, stamp
from meyasubako.domain import Submission
from meyasubako.workflow import Notifier
from storage import outbox as outbox_db

_NS = uuid.UUID("5d0b7c1e-8d4f-4f4e-9a53-6d6579617375")  # fixed namespace for notice retry keys


def notice_key(sub: Submission, kind: str, answer: str) -> str:
    digest = hashlib.sha256(answer.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(_NS, f"{sub.id}:{kind}:{digest}"))


def make_notifier(base_url: str, wake: Callable[[], None]) -> Notifier:
    async def notify(conn: aiosqlite.Connection, sub: Submission, kind: str, answer_body: str) -> None:
        if sub.channel != "line" or not sub.line_user_id or not answer_body.strip():
            return
        body = messages.notification(sub.receipt_no, kind, answer_body, base_url)
        queued = await outbox_db.enqueue(
            conn, kind="push", recipient=sub.line_user_id, messages=[messages.text(body)],
            retry_key=notice_key(sub, kind, answer_body), now=stamp(now()), submission_id=sub.id,
        )
        if queued is not None:
            # The sender's claim is itself a write queued behind this transaction, so it sees the row.
            asyncio.get_running_loop().call_soon(wake)

    return notify
