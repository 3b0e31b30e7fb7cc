"""LINE conversation storage: the webhook inbox, per-user state and drafts. All SQL for them lives here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from meyasubako.domain import Submission

# The submissions module owns the column list and the row -> dataclass mapping; reuse them so a
# resident's own list is built exactly like every other view of a submission.
from storage.dialect import for_update
from storage.submissions import _COLUMNS, _submission


@dataclass(frozen=True)
class NewInboxEvent:
    event_id: str
    user_id: str | None
    type: str
    body: dict[str, Any]
    redelivery: bool
    reply_deadline: str | None
    processed_outcome: str | None = None  # set for events stored only for dedup/audit (standby, groups)


@dataclass(frozen=True)
class InboxRow:
    seq: int
    event_id: str
    user_id: str | None
    type: str
    body: dict[str, Any]
    redelivery: bool
    received_at: str
    reply_deadline: str | None
    processed_at: str | None
    outcome: str | None


def _inbox(row: aiosqlite.Row) -> InboxRow:
    return InboxRow(
        seq=row["seq"], event_id=row["event_id"], user_id=row["user_id"], type=row["type"],
        body=json.loads(row["body_json"] or "{}"), redelivery=bool(row["redelivery"]),
        received_at=row["received_at"], reply_deadline=row["reply_deadline"],
        processed_at=row["processed_at"], outcome=row["outcome"],
    )


_INBOX_COLS = "seq, event_id, user_id, type, body_json, redelivery, received_at, reply_deadline, processed_at, outcome"


# -- inbox ------------------------------------------------------------------------------------------
async def insert_events(conn: aiosqlite.Connection, events: Sequence[NewInboxEvent], now: str) -> list[InboxRow]:
    """Store events; return only the ones not seen before (a redelivered webhookEventId is dropped)."""
    new: list[InboxRow] = []
    for ev in events:
        done = ev.processed_outcome is not None
        async with conn.execute(
            "INSERT INTO line_inbox (event_id, user_id, type, body_json, redelivery, received_at, reply_deadline,"
            " processed_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (event_id) DO NOTHING RETURNING {_INBOX_COLS}",
            (
                ev.event_id, ev.user_id, ev.type, "{}" if done else json.dumps(ev.body, ensure_ascii=False),
                int(ev.redelivery), now, ev.reply_deadline, now if done else None, ev.processed_outcome,
            ),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            new.append(_inbox(row))
    return new


async def next_pending(conn: aiosqlite.Connection, user_id: str) -> InboxRow | None:
    async with conn.execute(
        f"SELECT {_INBOX_COLS} FROM line_inbox WHERE user_id = ? AND processed_at IS NULL ORDER BY seq LIMIT 1",
        (user_id,),
    ) as cur:
        row = await cur.fetchone()
    return _inbox(row) if row else None


async def is_processed(conn: aiosqlite.Connection, seq: int) -> bool:
    """Inside a write job: locks the row on PostgreSQL, where another process may be applying the
    same event right now; the loser waits for the winner's commit and then sees it processed."""
    async with conn.execute(f"SELECT processed_at FROM line_inbox WHERE seq = ?{for_update(conn)}", (seq,)) as cur:
        row = await cur.fetchone()
    return row is None or row[0] is not None


async def pending_users(conn: aiosqlite.Connection) -> list[str]:
    async with conn.execute(
        "SELECT user_id FROM line_inbox WHERE processed_at IS NULL AND user_id IS NOT NULL"
        " GROUP BY user_id ORDER BY MIN(seq)"
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def mark_processed(conn: aiosqlite.Connection, seq: int, outcome: str, now: str) -> None:
    # The raw body (message text, locations) is no longer needed once its effects are stored.
    await conn.execute(
        "UPDATE line_inbox SET processed_at = ?, outcome = ?, body_json = '{}' WHERE seq = ?",
        (now, outcome[:200], seq),
    )


async def prune_inbox(conn: aiosqlite.Connection, before: str) -> int:
    """Forget processed events received before ``before`` (LINE redelivers within hours, not weeks)."""
    async with conn.execute(
        "DELETE FROM line_inbox WHERE processed_at IS NOT NULL AND received_at < ?", (before,)
    ) as cur:
        return cur.rowcount


async def inbox_counts(conn: aiosqlite.Connection) -> dict[str, int]:
    async with conn.execute(
        "SELECT COUNT(*), COUNT(*) - COUNT(processed_at) FROM line_inbox"
    ) as cur:
        row = await cur.fetchone()
    return {"total": int(row[0] or 0), "pending": int(row[1] or 0)}


# -- users --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineUser:
    user_id: str
    blocked: bool
    draft_id: str | None


async def get_user(conn: aiosqlite.Connection, user_id: str) -> LineUser | None:
    async with conn.execute("SELECT user_id, blocked, draft_id FROM line_users WHERE user_id = ?", (user_id,)) as cur:
        row = await cur.fetchone()
    return LineUser(row["user_id"], bool(row["blocked"]), row["draft_id"]) if row else None


async def ensure_user(conn: aiosqlite.Connection, user_id: str, now: str) -> None:
    await conn.execute(
        "INSERT INTO line_users (user_id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
        (user_id, now, now),
    )


async def set_blocked(conn: aiosqlite.Connection, user_id: str, blocked: bool, now: str) -> None:
    await ensure_user(conn, user_id, now)
    await conn.execute(
        "UPDATE line_users SET blocked = ?, updated_at = ? WHERE user_id = ?", (int(blocked), now, user_id)
    )


async def set_current_draft(conn: aiosqlite.Connection, user_id: str, draft_id: str | None, now: str) -> None:
    await ensure_user(conn, user_id, now)
    await conn.execute(
        "UPDATE line_users SET draft_id = ?, updated_at = ? WHERE user_id = ?", (draft_id, now, user_id)
    )


# -- drafts -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Draft:
    id: str
    user_id: str
    text: str
    consent: bool | None
    place: str | None
    lat: float | None
    lon: float | None
    state: str
    submission_id: int | None
    created_at: str
    updated_at: str


def _draft(row: aiosqlite.Row) -> Draft:
    return Draft(
        id=row["id"], user_id=row["user_id"], text=row["text"],
        consent=None if row["consent"] is None else bool(row["consent"]),
        place=row["place"], lat=row["lat"], lon=row["lon"], state=row["state"],
        submission_id=row["submission_id"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def create_draft(conn: aiosqlite.Connection, draft_id: str, user_id: str, now: str) -> Draft:
    await conn.execute(
        "INSERT INTO line_drafts (id, user_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (draft_id, user_id, now, now),
    )
    await set_current_draft(conn, user_id, draft_id, now)
    draft = await get_draft(conn, draft_id)
    assert draft is not None
    return draft


async def get_draft(conn: aiosqlite.Connection, draft_id: str) -> Draft | None:
    async with conn.execute(
        "SELECT id, user_id, text, consent, place, lat, lon, state, submission_id, created_at, updated_at"
        " FROM line_drafts WHERE id = ?",
        (draft_id,),
    ) as cur:
        row = await cur.fetchone()
    return _draft(row) if row else None


_DRAFT_FIELDS = {"text", "consent", "place", "lat", "lon", "state", "submission_id"}


async def update_draft(conn: aiosqlite.Connection, draft_id: str, now: str, **fields: Any) -> None:
    bad = set(fields) - _DRAFT_FIELDS
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    if "consent" in fields and fields["consent"] is not None:
        fields["consent"] = int(fields["consent"])
    cols = "".join(f"{k} = ?, " for k in fields)
    await conn.execute(
        f"UPDATE line_drafts SET {cols}updated_at = ? WHERE id = ?", (*fields.values(), now, draft_id)
    )


# -- a resident's own submissions ---------------------------------------------------------------------
async def submissions_of(conn: aiosqlite.Connection, user_id: str, limit: int = 5) -> list[Submission]:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM submissions WHERE line_user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
    ) as cur:
        return [_submission(r) for r in await cur.fetchall()]
