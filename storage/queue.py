"""The staff queue: filtered, searched, sorted listings with keyset pagination, and dashboard figures.

Keyset pagination ("the rows after this key") costs the same on page 1 and page 2,000, which an
OFFSET does not; the count is bounded so a broad filter over 100k rows still answers at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from meyasubako.domain import Submission
from storage import submissions as subs
from storage.dialect import is_pg
from storage.submissions import _COLUMNS, _submission, fts_clause

OPEN_STATUSES = ("received", "routed", "in_progress", "answered", "approved")
COUNT_CAP = 10_000
# sort name -> (key expressions, direction). The last key is always the unique id.
SORTS: dict[str, tuple[tuple[str, ...], str]] = {
    "new": (("id",), "DESC"),
    "old": (("id",), "ASC"),
    "due": (("COALESCE(due_at, '9999-12-31')", "id"), "ASC"),
}


@dataclass(frozen=True)
class QueueFilter:
    sections: Sequence[str] | None  # None = every section (approvers); staff pass their own
    section: str | None = None
    status: str | None = None
    channel: str | None = None
    consent: bool | None = None
    overdue: bool = False
    date_from: str | None = None  # YYYY-MM-DD, inclusive (received date, JST)
    date_to: str | None = None
    assignee: str | None = None
    terms: Sequence[str] | None = None
    today: str = ""  # YYYY-MM-DD; needed for `overdue`


@dataclass(frozen=True)
class QueuePage:
    items: list[Submission]
    total: int
    total_capped: bool
    next_cursor: str | None
    prev_cursor: str | None


def _where(f: QueueFilter, pg: bool = False) -> tuple[str, list[Any]] | None:
    where: list[str] = []
    params: list[Any] = []
    if f.sections is not None:
        if not f.sections:
            return None
        where.append(f"section IN ({', '.join('?' * len(f.sections))})")
        params.extend(f.sections)
    for col, val in (("section", f.section), ("status", f.status), ("channel", f.channel), ("assignee", f.assignee)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    if f.consent is not None:
        where.append("consent = ?")
        params.append(int(f.consent))
    if f.overdue:
        where.append(f"status IN ({', '.join('?' * len(OPEN_STATUSES))}) AND due_at < ?")
        params.extend([*OPEN_STATUSES, f.today])
    if f.date_from:
        where.append("received_at >= ?")
        params.append(f.date_from)
    if f.date_to:
        where.append("received_at < ?")
        params.append(f.date_to + "T99")  # every time of that day sorts below 'T99'
    if f.terms:
        fts = fts_clause(pg, "staff_fts", "id", f.terms)
        if fts:
            where.append(fts[0])
            params.append(fts[1])
    return (" AND ".join(where) or "1 = 1"), params


def _parse_cursor(sort: str, cursor: str) -> list[Any] | None:
    parts = cursor.split("~")
    keys, _ = SORTS[sort]
    if len(parts) != len(keys) or not parts[-1].isdigit() or len(cursor) > 64:
        return None
    return [*parts[:-1], int(parts[-1])]


def _cursor_of(sort: str, sub: Submission) -> str:
    if sort == "due":
        return f"{sub.due_at or '9999-12-31'}~{sub.id}"
    return str(sub.id)


async def list_queue(
    conn: aiosqlite.Connection, f: QueueFilter, *, sort: str = "new", after: str | None = None,
    before: str | None = None, limit: int = 50,
) -> QueuePage:
    built = _where(f, is_pg(conn))
    if built is None:
        return QueuePage([], 0, False, None, None)
    clause, params = built
    async with conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM submissions WHERE {clause} LIMIT ?) AS capped", (*params, COUNT_CAP + 1)
    ) as cur:
        total = int((await cur.fetchone())[0])
    sort = sort if sort in SORTS else "new"
    keys, direction = SORTS[sort]
    backwards = before is not None and after is None
    cursor = _parse_cursor(sort, after or before or "") if (after or before) else None
    cond = ""
    kparams: list[Any] = []
    if cursor is not None:
        forward_op = "<" if direction == "DESC" else ">"
        op = {"<": ">", ">": "<"}[forward_op] if backwards else forward_op
        cond = f" AND ({', '.join(keys)}) {op} ({', '.join('?' * len(keys))})"
        kparams = cursor
    order_dir = direction if not backwards else ("ASC" if direction == "DESC" else "DESC")
    order = ", ".join(f"{k} {order_dir}" for k in keys)
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM submissions WHERE {clause}{cond} ORDER BY {order} LIMIT ?",
        (*params, *kparams, limit + 1),
    ) as cur:
        rows = await cur.fetchall()
    more = len(rows) > limit
    items = [_submission(r) for r in rows[:limit]]
    if backwards:
        items.reverse()
        has_prev, has_next = more, True
    else:
        has_prev, has_next = cursor is not None, more
    return QueuePage(
        items, min(total, COUNT_CAP), total > COUNT_CAP,
        _cursor_of(sort, items[-1]) if items and has_next else None,
        _cursor_of(sort, items[0]) if items and has_prev else None,
    )


async def iter_queue(conn: aiosqlite.Connection, f: QueueFilter, batch: int = 500) -> AsyncIterator[Submission]:
    """Every item matching the filter in id order (CSV export), streamed in batches."""
    built = _where(f, is_pg(conn))
    if built is None:
        return
    clause, params = built
    async for sub in subs.iter_where(conn, clause, params, batch):
        yield sub


async def answers_for(conn: aiosqlite.Connection, sub_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """submission id -> (answer body, answer state) for a page of items."""
    if not sub_ids:
        return {}
    async with conn.execute(
        f"SELECT submission_id, body, state FROM answers WHERE submission_id IN ({', '.join('?' * len(sub_ids))})",
        list(sub_ids),
    ) as cur:
        return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


async def by_receipts(conn: aiosqlite.Connection, receipt_nos: Sequence[str]) -> list[Submission]:
    if not receipt_nos:
        return []
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM submissions WHERE receipt_no IN ({', '.join('?' * len(receipt_nos))})",
        list(receipt_nos),
    ) as cur:
        return [_submission(r) for r in await cur.fetchall()]


# -- dashboard ------------------------------------------------------------------------------------------
async def _grouped(conn: aiosqlite.Connection, expr: str, clause: str, params: list[Any]) -> dict[str, int]:
    async with conn.execute(
        f"SELECT {expr} AS k, COUNT(*) FROM submissions WHERE {clause} GROUP BY k ORDER BY k", params
    ) as cur:
        return {(r[0] if r[0] is not None else ""): int(r[1]) for r in await cur.fetchall()}


async def dashboard(conn: aiosqlite.Connection, f: QueueFilter) -> dict[str, Any]:
    """Counts by section/status/channel/month, overdue, close reasons, and (received, answered) pairs."""
    built = _where(f, is_pg(conn))
    if built is None:
        return {"section": {}, "status": {}, "channel": {}, "month": {}, "close_reason": {}, "overdue": 0,
                "durations": []}
    clause, params = built
    out: dict[str, Any] = {
        "section": await _grouped(conn, "section", clause, params),
        "status": await _grouped(conn, "status", clause, params),
        "channel": await _grouped(conn, "channel", clause, params),
        "month": await _grouped(conn, "substr(received_at, 1, 7)", clause, params),
        "close_reason": await _grouped(conn, "close_reason", clause + " AND status = 'closed'", params),
    }
    async with conn.execute(
        f"SELECT COUNT(*) FROM submissions WHERE {clause} AND status IN ({', '.join('?' * len(OPEN_STATUSES))})"
        " AND due_at < ?",
        (*params, *OPEN_STATUSES, f.today),
    ) as cur:
        out["overdue"] = int((await cur.fetchone())[0])
    # When the resident got an answer: publication, or closing (updated_at of a closed item).
    async with conn.execute(
        f"SELECT received_at, CASE status WHEN 'published' THEN published_at ELSE updated_at END"
        f" FROM submissions WHERE {clause} AND status IN ('published', 'closed')",
        params,
    ) as cur:
        out["durations"] = [(r[0], r[1]) for r in await cur.fetchall() if r[1]]
    return out
