"""The outbox: outbound LINE messages, written in the transaction of the change that causes them.

A background sender claims due rows (moving ``next_attempt_at`` forward as a lease, so a crash in
the middle of a send retries it later with the same retry key) and records each attempt here.
Timestamps are fixed-width ISO strings so that they compare correctly as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiosqlite

from storage.dialect import is_pg


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str                 # 'reply' or 'push'
    recipient: str            # LINE user id
    messages: list[dict[str, Any]]
    retry_key: str
    reply_token: str | None
    reply_deadline: str | None
    submission_id: int | None
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    last_status: int | None
    sent_via: str | None
    created_at: str
    sent_at: str | None
    blocked: bool = False     # the recipient unfollowed the account (joined from line_users)


_COLS = (
    "o.id, o.kind, o.recipient, o.payload_json, o.retry_key, o.reply_token, o.reply_deadline, o.submission_id,"
    " o.status, o.attempts, o.next_attempt_at, o.last_error, o.last_status, o.sent_via, o.created_at, o.sent_at,"
    " COALESCE(u.blocked, 0) AS blocked"
)


def _row(r: aiosqlite.Row) -> OutboxRow:
    return OutboxRow(
        id=r["id"], kind=r["kind"], recipient=r["recipient"], messages=json.loads(r["payload_json"]),
        retry_key=r["retry_key"], reply_token=r["reply_token"], reply_deadline=r["reply_deadline"],
        submission_id=r["submission_id"], status=r["status"], attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"], last_error=r["last_error"], last_status=r["last_status"],
        sent_via=r["sent_via"], created_at=r["created_at"], sent_at=r["sent_at"], blocked=bool(r["blocked"]),
    )


async def enqueue(
    conn: aiosqlite.Connection,
    *,
    kind: str,
    recipient: str,
    messages: list[dict[str, Any]],
    retry_key: str,
    now: str,
    reply_token: str | None = None,
    reply_deadline: str | None = None,
    submission_id: int | None = None,
) -> int | None:
    """Queue one message batch (1-5 LINE message objects). A retry key already queued is a no-op (None)."""
    if not 1 <= len(messages) <= 5:
        raise ValueError("a LINE request carries 1 to 5 messages")
    async with conn.execute(
        "INSERT INTO outbox (channel, kind, recipient, payload_json, retry_key, reply_token, reply_deadline,"
        " submission_id, next_attempt_at, created_at) VALUES ('line', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (retry_key) DO NOTHING RETURNING id",
        (kind, recipient, json.dumps(messages, ensure_ascii=False), retry_key, reply_token, reply_deadline,
         submission_id, now, now),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else None


async def claim_due(conn: aiosqlite.Connection, *, now: str, lease_until: str, limit: int) -> list[OutboxRow]:
    """Take up to ``limit`` due rows: count the attempt and lease them until ``lease_until``."""
    async with conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id IN ("
        " SELECT o.id FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
        # A recipient's messages go out in order: nothing overtakes an earlier one that waits for a retry.
        "  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.recipient = o.recipient AND p.status = 'pending'"
        "   AND p.id < o.id AND p.next_attempt_at > ?)"
        # PostgreSQL: other processes claim at the same time; a row one of them is claiming is
        # skipped, not waited for and then claimed twice. (SQLite's single writer needs no lock.)
        f" ORDER BY o.next_attempt_at, o.id LIMIT ?{' FOR UPDATE OF o SKIP LOCKED' if is_pg(conn) else ''}) RETURNING id",
        (lease_until, now, now, limit),
    ) as cur:
        ids = [r[0] for r in await cur.fetchall()]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    async with conn.execute(
        f"SELECT {_COLS} FROM outbox o LEFT JOIN line_users u ON u.user_id = o.recipient"
        f" WHERE o.id IN ({marks}) ORDER BY o.id",
        ids,
    ) as cur:
        return [_row(r) for r in await cur.fetchall()]


async def next_due(conn: aiosqlite.Connection) -> str | None:
    async with conn.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'") as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def mark_sent(conn: aiosqlite.Connection, row_id: int, *, via: str, http_status: int | None, now: str,
                    note: str | None = None) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'sent', sent_via = ?, last_status = ?, sent_at = ?, last_error = ?"
        " WHERE id = ?",
        (via, http_status, now, note, row_id),
    )


async def mark_retry(conn: aiosqlite.Connection, row_id: int, *, next_at: str, error: str,
                     http_status: int | None) -> None:
    await conn.execute(
        "UPDATE outbox SET next_attempt_at = ?, last_error = ?, last_status = ? WHERE id = ? AND status = 'pending'",
        (next_at, error[:500], http_status, row_id),
    )


async def defer(conn: aiosqlite.Connection, row_ids: list[int], *, next_at: str) -> None:
    """Put claimed rows back without counting an attempt (they wait behind an earlier message)."""
    if row_ids:
        marks = ", ".join("?" * len(row_ids))
        await conn.execute(
            f"UPDATE outbox SET next_attempt_at = ?, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
            f" WHERE id IN ({marks}) AND status = 'pending'",
            (next_at, *row_ids),
        )


async def mark_failed(conn: aiosqlite.Connection, row_id: int, *, error: str, http_status: int | None,
                      via: str | None = None) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'failed', last_error = ?, last_status = ?, sent_via = ? WHERE id = ?",
        (error[:500], http_status, via, row_id),
    )


async def rows(conn: aiosqlite.Connection, *, recipient: str | None = None) -> list[OutboxRow]:
    """Every row (oldest first), optionally for one recipient: for the ops view and tests."""
    where, params = ("WHERE o.recipient = ?", (recipient,)) if recipient else ("", ())
    async with conn.execute(
        f"SELECT {_COLS} FROM outbox o LEFT JOIN line_users u ON u.user_id = o.recipient {where} ORDER BY o.id",
        params,
    ) as cur:
        return [_row(r) for r in await cur.fetchall()]


async def counts(conn: aiosqlite.Connection) -> dict[str, int]:
    async with conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
        return {r[0]: int(r[1]) for r in await cur.fetchall()}
