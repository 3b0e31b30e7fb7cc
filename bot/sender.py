"""The outbox sender: delivers queued LINE messages with retries, one background task per process.

It wakes when a row is queued and on a timer, claims due rows (a lease, so a crash mid-send is
retried later with the same retry key), and per row:
- reply while the reply token is fresh; a stale or rejected token falls back to a push;
- pushes carry ``X-Line-Retry-Key`` (the row's key, the same on every attempt), so a retry after a
  timeout cannot deliver twice; 409 means LINE already accepted it;
- 5xx, 429, timeouts and connection errors are retried with exponential backoff and jitter,
  honouring Retry-After; other 4xx are recorded as failed and not retried;
- a user who unfollowed gets nothing: the row is closed as not sent, with the reason.
Rows for one recipient go out in order; different recipients in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from bot.config import BotTuning, now, parse, stamp
from bot.line_api import LineApi, Outcome
from storage import outbox as outbox_db
from storage.db import Database
from storage.errors import StorageUnavailable

log = logging.getLogger("meyasubako.bot.sender")


class OutboxSender:
    def __init__(self, db: Database, api: LineApi, tuning: BotTuning,
                 jitter: Callable[[float, float], float] = random.uniform) -> None:
        self.db = db
        self.api = api
        self.tuning = tuning
        self.jitter = jitter
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(tuning.send_concurrency)
        self.stats = {"sent": 0, "retried": 0, "failed": 0, "fallback_push": 0}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="line-outbox-sender")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends in flight, then stop; rows still pending go out after the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the claim: a row queued meanwhile sets it again
            try:
                n = await self.run_once()
            except StorageUnavailable as exc:
                log.error("event=outbox_unavailable error=%s", exc)
                n = 0
            except Exception:
                log.exception("event=outbox_loop_error")
                n = 0
            if n or self._stopping:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), await self._sleep_for())
            except TimeoutError:
                pass

    async def _sleep_for(self) -> float:
        try:
            async with self.db.read() as conn:
                due = await outbox_db.next_due(conn)
        except StorageUnavailable:
            return self.tuning.poll_interval
        if due is None:
            return self.tuning.poll_interval
        wait = (parse(due) - now()).total_seconds()
        return min(self.tuning.poll_interval, max(0.001, wait))

    async def run_once(self) -> int:
        """Claim and deliver one batch of due rows; returns how many were claimed."""
        t = now()
        ts, lease = stamp(t), stamp(t + timedelta(seconds=self.tuning.lease))

        async def claim(conn):  # type: ignore[no-untyped-def]
            return await outbox_db.claim_due(conn, now=ts, lease_until=lease, limit=self.tuning.batch)

        rows = await self.db.write(claim)
        if not rows:
            return 0
        by_recipient: dict[str, list[outbox_db.OutboxRow]] = {}
        for row in rows:
            by_recipient.setdefault(row.recipient, []).append(row)
        await asyncio.gather(*(self._deliver_in_order(rs) for rs in by_recipient.values()))
        return len(rows)

    async def _deliver_in_order(self, rows: list[outbox_db.OutboxRow]) -> None:
        async with self._sem:
            for i, row in enumerate(rows):
                try:
                    next_at = await self._deliver(row)
                except StorageUnavailable as exc:  # the lease brings the row back later
                    log.error("event=outbox_record_failed id=%d error=%s", row.id, exc)
                    return
                if next_at is not None and rows[i + 1:]:
                    # This one waits for a retry: the later ones wait behind it, order is kept.
                    later = [r.id for r in rows[i + 1:]]

                    async def job(conn, later=later, next_at=next_at):  # type: ignore[no-untyped-def]
                        await outbox_db.defer(conn, later, next_at=next_at)

                    await self.db.write(job)
                    return

    async def _deliver(self, row: outbox_db.OutboxRow) -> str | None:
        """Send one row and record the result; returns the next attempt time when it will be retried."""
        if row.blocked:
            return await self._record(row, "failed", via=None,
                                      out=Outcome(sent=False, error="blocked: the user unfollowed"))
        fresh = (row.kind == "reply" and row.reply_token and row.reply_deadline
                 and now() < parse(row.reply_deadline))
        if fresh:
            assert row.reply_token is not None
            out = await self.api.reply(row.reply_token, row.messages)
            if out.sent:
                return await self._record(row, "sent", via="reply", out=out)
            if not out.invalid_reply_token:
                return await self._after_failure(row, "reply", out)
            log.info("event=outbox_reply_token_rejected id=%d falling_back=push", row.id)
            self.stats["fallback_push"] += 1
        elif row.kind == "reply":
            self.stats["fallback_push"] += 1
        out = await self.api.push(row.recipient, row.messages, row.retry_key)
        if out.sent:
            if out.already_accepted and row.attempts <= 1:
                log.warning("event=outbox_409_first_attempt id=%d", row.id)
            return await self._record(row, "sent", via="push", out=out)
        return await self._after_failure(row, "push", out)

    async def _after_failure(self, row: outbox_db.OutboxRow, via: str, out: Outcome) -> str | None:
        if out.retry and row.attempts < self.tuning.max_attempts:
            return await self._record(row, "retry", via=via, out=out)
        return await self._record(row, "failed", via=via, out=out)

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, never shorter than what LINE asked for (Retry-After)."""
        cap = min(self.tuning.backoff_max, self.tuning.backoff_base * (2 ** max(0, attempts - 1)))
        delay = self.jitter(cap / 2, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.tuning.retry_after_max))
        return delay

    async def _record(self, row: outbox_db.OutboxRow, what: str, *, via: str | None, out: Outcome) -> str | None:
        t = now()
        next_at: str | None = None
        if what == "sent":
            note = "already accepted (409)" if out.already_accepted else None

            async def job(conn):  # type: ignore[no-untyped-def]
                await outbox_db.mark_sent(conn, row.id, via=via or "push", http_status=out.status, now=stamp(t),
                                          note=note)
        elif what == "retry":
            delay = self.backoff(row.attempts, out.retry_after)
            next_at = stamp(t + timedelta(seconds=delay))

            async def job(conn):  # type: ignore[no-untyped-def]
                await outbox_db.mark_retry(conn, row.id, next_at=next_at, error=f"{via}: {out.error}",
                                           http_status=out.status)
        else:
            async def job(conn):  # type: ignore[no-untyped-def]
                await outbox_db.mark_failed(conn, row.id, error=f"{via or 'none'}: {out.error}",
                                            http_status=out.status, via=via)

        await self.db.write(job)
        self.stats[{"sent": "sent", "retry": "retried"}.get(what, "failed")] += 1
        log_fn = log.info if what == "sent" else log.warning
        log_fn("event=outbox_%s id=%d via=%s status=%s attempts=%d error=%s",
               what, row.id, via, out.status, row.attempts, out.error or "-")
        return next_at
