"""SQL for retention, erasure and disclosure of residents' personal data.

Tables that later migrations add (attachments, LINE conversation state ...) are found by their
columns rather than named here, so that their personal data is never forgotten by an erasure:
  * a table with a ``submission_id`` column holds data OF a submission (except those in
    ``KEPT_WITH_SUBMISSION``, which the erasure handles itself);
  * a table with a ``line_user_id`` (or ``user_id`` in a table whose name starts with ``line``)
    column holds data OF a LINE user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from storage.dialect import is_pg

# Handled explicitly by the erasure: events are scrubbed (kept as the audit trail), answers kept
# (the city's official answer), outbox deleted through its own function. The related-items lists
# (migration 0090) hold only ids and scores of public items: no personal data to erase, and the
# published 要旨 and answer, which they link, stay.
KEPT_WITH_SUBMISSION = frozenset({"events", "answers", "outbox", "submissions", "public_related_lists",
                                  "public_related"})
LOOKUP_KINDS = ("receipt", "contact", "line")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
    async with conn.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def _table_columns(conn: aiosqlite.Connection) -> list[tuple[str, set[str]]]:
    """Every ordinary table of the schema (not the search indexes) with its column names."""
    if is_pg(conn):
        found: dict[str, set[str]] = {}
        for r in await _fetchall(conn, "SELECT table_name, column_name FROM information_schema.columns"
                                       " WHERE table_schema = current_schema()"
                                       " AND table_name NOT IN ('staff_fts', 'public_fts') ORDER BY table_name"):
            found.setdefault(r[0], set()).add(r[1])
        return sorted(found.items())
    out: list[tuple[str, set[str]]] = []
    for (name,) in await _fetchall(conn, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'"
                                         " ORDER BY name"):
        out.append((name, {r[1] for r in await _fetchall(conn, f"PRAGMA table_info({_quote(name)})")}))
    return out


async def linked_tables(conn: aiosqlite.Connection) -> tuple[list[str], list[tuple[str, str]]]:
    """(tables keyed by submission_id, [(table, column) keyed by a LINE user id])."""
    per_sub: list[str] = []
    per_line: list[tuple[str, str]] = []
    for name, cols in await _table_columns(conn):
        if "submission_id" in cols and name not in KEPT_WITH_SUBMISSION:
            per_sub.append(name)
        if name != "submissions":
            if "line_user_id" in cols:
                per_line.append((name, "line_user_id"))
            elif name.startswith("line") and "user_id" in cols:
                per_line.append((name, "user_id"))
    return per_sub, per_line


# -- finding ------------------------------------------------------------------------------------------
async def closed_before(conn: aiosqlite.Connection, cutoff: str, limit: int = 10_000) -> list[dict[str, Any]]:
    """Finished (published or closed), not yet erased items whose last status change is <= cutoff.

    Timestamps are JST ISO strings, so they compare as text.
    """
    rows = await _fetchall(
        conn,
        "SELECT s.id, s.receipt_no, s.status, MAX(e.at) AS closed_at FROM submissions s"
        " JOIN events e ON e.submission_id = s.id AND e.to_status IS NOT NULL"
        " WHERE s.status IN ('published', 'closed') AND s.erased_at IS NULL"
        " GROUP BY s.id HAVING MAX(e.at) <= ? ORDER BY s.id LIMIT ?",
        (cutoff, limit),
    )
    return [dict(r) for r in rows]


async def ids_for_resident(conn: aiosqlite.Connection, kind: str, value: str) -> list[int]:
    """Submissions of one resident, by receipt number, exact contact, or LINE user id."""
    column = {"receipt": "receipt_no", "contact": "contact", "line": "line_user_id"}[kind]
    rows = await _fetchall(conn, f"SELECT id FROM submissions WHERE {column} = ? ORDER BY id", (value,))
    return [int(r[0]) for r in rows]


async def submission_row(conn: aiosqlite.Connection, sub_id: int) -> dict[str, Any] | None:
    rows = await _fetchall(conn, "SELECT * FROM submissions WHERE id = ?", (sub_id,))
    return dict(rows[0]) if rows else None


async def events_rows(conn: aiosqlite.Connection, sub_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await _fetchall(
        conn, "SELECT id, at, actor, action, from_status, to_status, note FROM events"
              " WHERE submission_id = ? ORDER BY id", (sub_id,))]


async def answer_row(conn: aiosqlite.Connection, sub_id: int) -> dict[str, Any] | None:
    rows = await _fetchall(conn, "SELECT body, state, created_at, updated_at FROM answers WHERE submission_id = ?",
                           (sub_id,))
    return dict(rows[0]) if rows else None


async def outbox_rows(conn: aiosqlite.Connection, *, sub_id: int | None = None,
                      recipient: str | None = None) -> list[dict[str, Any]]:
    col, val = ("submission_id", sub_id) if sub_id is not None else ("recipient", recipient)
    return [dict(r) for r in await _fetchall(
        conn, f"SELECT id, kind, status, payload_json, created_at, sent_at FROM outbox WHERE {col} = ? ORDER BY id",
        (val,))]


async def rows_where(conn: aiosqlite.Connection, table: str, column: str, value: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await _fetchall(
        conn, f"SELECT * FROM {_quote(table)} WHERE {_quote(column)} = ?", (value,))]


async def live_submissions_of_line_user(conn: aiosqlite.Connection, line_user_id: str) -> int:
    rows = await _fetchall(conn, "SELECT COUNT(*) FROM submissions WHERE line_user_id = ? AND erased_at IS NULL",
                           (line_user_id,))
    return int(rows[0][0])


# -- erasing ------------------------------------------------------------------------------------------
async def blank_submission(conn: aiosqlite.Connection, sub_id: int, *, text: str, suggestion_json: str,
                           token_hash: str, now: str) -> None:
    """Drop every personal field of one submission; keep what statistics and the record need."""
    await conn.execute(
        "UPDATE submissions SET text = ?, place = NULL, lat = NULL, lon = NULL, contact = NULL,"
        " line_user_id = NULL, client_key = NULL, pii_json = '[]', masked_text = NULL, terms = '',"
        " suggestion_json = ?, status_token_hash = ?, erased_at = ?, updated_at = ? WHERE id = ?",
        (text, suggestion_json, token_hash, now, now, sub_id),
    )
    await conn.execute("DELETE FROM staff_fts WHERE rowid = ?", (sub_id,))


async def set_event_note(conn: aiosqlite.Connection, event_id: int, note: str) -> None:
    await conn.execute("UPDATE events SET note = ? WHERE id = ?", (note, event_id))


async def delete_where(conn: aiosqlite.Connection, table: str, column: str, value: Any) -> int:
    async with conn.execute(f"DELETE FROM {_quote(table)} WHERE {_quote(column)} = ?", (value,)) as cur:
        return cur.rowcount


async def delete_outbox(conn: aiosqlite.Connection, *, sub_id: int | None = None,
                        recipient: str | None = None) -> int:
    """Messages carry the answer and the resident's LINE id; an erased resident gets no more pushes."""
    if sub_id is not None:
        return await delete_where(conn, "outbox", "submission_id", sub_id)
    return await delete_where(conn, "outbox", "recipient", recipient)


# -- the officer's ledger -----------------------------------------------------------------------------
async def add_log(conn: aiosqlite.Connection, *, at: str, actor: str, action: str, reason: str,
                  receipts: Sequence[str], detail_json: str) -> None:
    await conn.execute(
        "INSERT INTO privacy_log (at, actor, action, reason, receipts, detail_json) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor, action, reason, " ".join(receipts), detail_json),
    )


async def recent_log(conn: aiosqlite.Connection, limit: int = 20) -> list[dict[str, Any]]:
    return [dict(r) for r in await _fetchall(
        conn, "SELECT at, actor, action, reason, receipts, detail_json FROM privacy_log ORDER BY id DESC LIMIT ?",
        (limit,))]
