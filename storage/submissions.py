"""Submissions, their events (audit trail) and answers: every SQL statement about them lives here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import aiosqlite

from meyasubako.domain import (
    Answer,
    Event,
    NewSubmission,
    PiiSpanRecord,
    Status,
    Submission,
    dumps,
)
from storage.dialect import for_update

_COLUMNS = (
    "id, receipt_no, channel, text, place, lat, lon, contact, line_user_id, consent, status, section,"
    " suggested_section, suggestion_json, pii_json, masked_text, public_summary, close_reason,"
    " received_at, updated_at, due_at, answered_at, published_at, routed_by, assignee, duplicate_of"
)


def _submission(row: aiosqlite.Row) -> Submission:
    return Submission(
        id=row["id"],
        receipt_no=row["receipt_no"],
        channel=row["channel"],
        text=row["text"],
        place=row["place"],
        lat=row["lat"],
        lon=row["lon"],
        contact=row["contact"],
        line_user_id=row["line_user_id"],
        consent=bool(row["consent"]),
        status=Status(row["status"]),
        section=row["section"],
        suggested_section=row["suggested_section"],
        suggestion=json.loads(row["suggestion_json"] or "{}"),
        pii=[PiiSpanRecord(**p) for p in json.loads(row["pii_json"] or "[]")],
        masked_text=row["masked_text"],
        public_summary=row["public_summary"],
        close_reason=row["close_reason"],
        received_at=row["received_at"],
        updated_at=row["updated_at"],
        due_at=row["due_at"],
        answered_at=row["answered_at"],
        published_at=row["published_at"],
        routed_by=row["routed_by"],
        assignee=row["assignee"],
        duplicate_of=row["duplicate_of"],
    )


async def _one(conn: aiosqlite.Connection, where: str, params: Sequence[Any]) -> Submission | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM submissions WHERE {where}", params) as cur:
        row = await cur.fetchone()
    return _submission(row) if row else None


# -- receipt numbers ------------------------------------------------------------------------------
TAKE_RECEIPT = ("INSERT INTO receipt_counters (year, last) VALUES (?, 1)"
                " ON CONFLICT (year) DO UPDATE SET last = receipt_counters.last + 1 RETURNING last")


async def next_receipt_no(conn: aiosqlite.Connection, year: int) -> str:
    """Next number of the year, e.g. ``2026-000123``, inside a write job.

    SQLite: in the job's own transaction (one writer: nothing waits on the counter row).
    PostgreSQL: taken in a short transaction of its own (``PgConnection.take_receipt``) and
    committed at once, so that concurrent submissions of all processes do not queue on the counter
    row for the length of each other's transactions. A job that then fails leaves a gap in the
    numbers, never a number handed out twice.
    """
    take = getattr(conn, "take_receipt", None)
    if take is not None:
        last = await take(year)
    else:
        async with conn.execute(TAKE_RECEIPT, (year,)) as cur:
            last = (await cur.fetchone())[0]
    return f"{year}-{last:06d}"


# -- writes -----------------------------------------------------------------------------------------
async def insert(
    conn: aiosqlite.Connection,
    new: NewSubmission,
    *,
    receipt_no: str,
    token_hash: str,
    now: str,
    analysis: dict[str, Any] | None,
) -> Submission:
    a = analysis or {}
    async with conn.execute(
        "INSERT INTO submissions (receipt_no, channel, client_key, text, place, lat, lon, contact,"
        " line_user_id, consent, status, suggested_section, suggestion_json, pii_json, masked_text, terms,"
        " status_token_hash, received_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            receipt_no,
            str(new.channel),
            new.client_key,
            new.text,
            new.place,
            new.lat,
            new.lon,
            new.contact,
            new.line_user_id,
            int(new.consent),
            a.get("section"),
            dumps({k: a[k] for k in ("top", "reasons", "confident") if k in a}),
            dumps(a.get("pii", [])),
            a.get("masked"),
            " ".join(a.get("terms", [])),
            token_hash,
            now,
            now,
        ),
    ) as cur:
        row = await cur.fetchone()
    sub_id = int(row[0])
    if a.get("terms"):
        await conn.execute("INSERT INTO staff_fts (rowid, terms) VALUES (?, ?)", (sub_id, " ".join(a["terms"])))
    sub = await by_id(conn, sub_id)
    assert sub is not None
    return sub


async def update_fields(conn: aiosqlite.Connection, sub_id: int, fields: dict[str, Any]) -> None:
    """Update plain columns. The workflow is the only caller that passes ``status``."""
    if not fields:
        return
    allowed = {
        "status", "section", "public_summary", "close_reason", "updated_at", "due_at", "answered_at",
        "published_at", "masked_text", "suggested_section", "suggestion_json", "pii_json", "terms",
        "routed_by", "assignee", "duplicate_of",
    }
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    cols = ", ".join(f"{k} = ?" for k in fields)
    await conn.execute(f"UPDATE submissions SET {cols} WHERE id = ?", (*fields.values(), sub_id))


async def set_public_terms(conn: aiosqlite.Connection, sub_id: int, terms: Iterable[str] | None) -> None:
    """Index (or, with None, un-index) what the public may search for one published item."""
    await conn.execute("DELETE FROM public_fts WHERE rowid = ?", (sub_id,))
    if terms:
        await conn.execute("INSERT INTO public_fts (rowid, terms) VALUES (?, ?)", (sub_id, " ".join(terms)))


async def add_event(
    conn: aiosqlite.Connection,
    sub_id: int,
    *,
    at: str,
    actor: str,
    action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str = "",
) -> None:
    await conn.execute(
        "INSERT INTO events (submission_id, at, actor, action, from_status, to_status, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (sub_id, at, actor, action, from_status, to_status, note),
    )


async def upsert_answer(
    conn: aiosqlite.Connection, sub_id: int, *, body: str, state: str, author: str, now: str
) -> None:
    await conn.execute(
        "INSERT INTO answers (submission_id, body, state, author, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (submission_id) DO UPDATE SET body = excluded.body, state = excluded.state,"
        " author = excluded.author, approver = NULL, updated_at = excluded.updated_at",
        (sub_id, body, state, author, now, now),
    )


async def set_answer_state(
    conn: aiosqlite.Connection, sub_id: int, *, state: str, approver: str | None, now: str,
    review_comment: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE answers SET state = ?, approver = ?, updated_at = ?, review_comment = ? WHERE submission_id = ?",
        (state, approver, now, review_comment, sub_id),
    )


# -- reads ------------------------------------------------------------------------------------------
async def by_id(conn: aiosqlite.Connection, sub_id: int) -> Submission | None:
    return await _one(conn, "id = ?", (sub_id,))


async def by_receipt(conn: aiosqlite.Connection, receipt_no: str, *, lock: bool = False) -> Submission | None:
    """``lock``: inside a write job that changes the row (PostgreSQL: SELECT ... FOR UPDATE, so two
    processes acting on one item at once take turns and the second sees the first's change)."""
    return await _one(conn, "receipt_no = ?" + (for_update(conn) if lock else ""), (receipt_no,))


async def by_token_hash(conn: aiosqlite.Connection, token_hash: str) -> Submission | None:
    return await _one(conn, "status_token_hash = ?", (token_hash,))


async def by_client_key(conn: aiosqlite.Connection, client_key: str) -> Submission | None:
    return await _one(conn, "client_key = ?", (client_key,))


async def answer_for(conn: aiosqlite.Connection, sub_id: int) -> Answer | None:
    async with conn.execute(
        "SELECT submission_id, body, state, author, approver, created_at, updated_at, review_comment"
        " FROM answers WHERE submission_id = ?",
        (sub_id,),
    ) as cur:
        row = await cur.fetchone()
    return Answer(**dict(row)) if row else None


async def events_for(conn: aiosqlite.Connection, sub_id: int) -> list[Event]:
    async with conn.execute(
        "SELECT id, submission_id, at, actor, action, from_status, to_status, note"
        " FROM events WHERE submission_id = ? ORDER BY id",
        (sub_id,),
    ) as cur:
        return [Event(**dict(r)) for r in await cur.fetchall()]


def _fts_safe(term: str) -> str:
    # FTS5 rejects NUL and control characters even inside a quoted string ("unterminated string").
    return "".join(ch for ch in term if ch >= " " and ch != "\x7f").strip()


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that ANDs the given terms, each quoted (no operator injection)."""
    safe = (_fts_safe(t) for t in terms)
    return " ".join('"' + t.replace('"', '""') + '"' for t in safe if t)


def tsquery(terms: Sequence[str]) -> str:
    """The same AND of quoted terms as a PostgreSQL ``tsquery`` literal (cast with ``::tsquery``,
    which takes lexemes as written: the terms are already Sudachi-normalized)."""
    safe = (_fts_safe(t) for t in terms)
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in safe if t)


def fts_clause(pg: bool, table: str, id_expr: str, terms: Sequence[str]) -> tuple[str, str] | None:
    """``id_expr IN (ids whose terms contain every term)`` for ``table`` (staff_fts/public_fts), and
    its parameter; None when no term is searchable. SQLite: FTS5 MATCH. PostgreSQL: a GIN-indexed
    tsvector made from the same space-separated Sudachi terms (migrations/postgresql/0001)."""
    if table not in ("staff_fts", "public_fts"):
        raise ValueError(table)
    if pg:
        q = tsquery(terms)
        return (f"{id_expr} IN (SELECT rowid FROM {table} WHERE tsv @@ ?::tsquery)", q) if q else None
    q = fts_query(terms)
    return (f"{id_expr} IN (SELECT rowid FROM {table} WHERE {table} MATCH ?)", q) if q else None


async def iter_where(
    conn: aiosqlite.Connection, clause: str = "1 = 1", params: Sequence[Any] = (), batch: int = 500
) -> AsyncIterator[Submission]:
    """Submissions matching ``clause`` in id order, streamed in batches (exports)."""
    last = 0
    while True:
        async with conn.execute(
            f"SELECT {_COLUMNS} FROM submissions WHERE ({clause}) AND id > ? ORDER BY id LIMIT ?",
            (*params, last, batch),
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        for r in rows:
            yield _submission(r)
        last = rows[-1]["id"]


def iter_all(conn: aiosqlite.Connection, batch: int = 500) -> AsyncIterator[Submission]:
    """Every submission in id order (export), streamed in batches."""
    return iter_where(conn, batch=batch)
