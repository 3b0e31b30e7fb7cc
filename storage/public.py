"""Queries of the public side: the notice board, item pages, feeds, open data and Open311.

Every query here selects ONLY public columns (receipt number, section, dates, the approved 要旨
and the approved answer) of items whose status is ``published``. The original text, place,
coordinates, contact and LINE ids are never selected, so no template or serializer downstream
can leak them by mistake. Statistics (counts only) live in :mod:`storage.public_stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from storage.dialect import is_pg
from storage.submissions import fts_clause

# Counting every match of a broad query costs O(matches); the board only needs to know how
# many pages to offer, so counts stop here (the board says "10,000件以上").
COUNT_CAP = 10_000


@dataclass(frozen=True)
class PublicItem:
    id: int
    receipt_no: str
    section: str | None
    section_name: str | None
    section_unit: str | None
    received_at: str
    answered_at: str | None
    published_at: str
    due_at: str | None
    summary: str
    answer: str


@dataclass(frozen=True)
class PublicFilter:
    section: str | None = None
    terms: Sequence[str] | None = None
    received_month: str | None = None  # 'YYYY-MM' (JST)
    timeliness: str | None = None  # 'ontime' | 'late' (answered by the section's deadline or after)
    receipt_nos: Sequence[str] | None = None
    received_from: str | None = None  # ISO 8601 JST, inclusive
    received_to: str | None = None  # ISO 8601 JST, exclusive


_COLS = (
    "SELECT s.id, s.receipt_no, s.section, sec.name AS section_name, sec.unit AS section_unit,"
    " s.received_at, s.answered_at, s.published_at, s.due_at, s.public_summary, a.body AS answer"
)
_JOINS = (
    " LEFT JOIN sections sec ON sec.id = s.section"
    " LEFT JOIN answers a ON a.submission_id = s.id AND a.state = 'approved'"
)
_SELECT = f"{_COLS} FROM submissions s{_JOINS}"


def _source(f: PublicFilter, pg: bool = False) -> str:
    """The table with the index that serves ``f`` best, named explicitly.

    Without statistics (no ANALYZE has run) SQLite prefers the general (status, received_at)
    index for ``status = 'published'`` and then sorts every published row: 0.8 s at 100k items.
    The partial indexes of migration 0030 deliver rows already in board order, so the first page
    stops after 20 rows, and a search or a filter only checks index entries.
    """
    if f.receipt_nos is not None or pg:  # PostgreSQL's planner has statistics and needs no hint
        return "submissions s"  # a handful of exact keys: the UNIQUE index on receipt_no
    if f.section:
        return "submissions s INDEXED BY public_by_section"
    if f.received_month or f.received_from or f.received_to:
        return "submissions s INDEXED BY public_by_received"
    return "submissions s INDEXED BY public_by_published"


def _table_walk(conn: Any) -> str:
    """SQLite: read the table in rowid order (the status index would sort every row per batch)."""
    return "" if is_pg(conn) else " NOT INDEXED"


def _item(row: aiosqlite.Row) -> PublicItem:
    return PublicItem(
        id=row["id"],
        receipt_no=row["receipt_no"],
        section=row["section"],
        section_name=row["section_name"],
        section_unit=row["section_unit"],
        received_at=row["received_at"],
        answered_at=row["answered_at"],
        published_at=row["published_at"],
        due_at=row["due_at"],
        summary=row["public_summary"] or "",
        answer=row["answer"] or "",
    )


def next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def _where(f: PublicFilter, pg: bool = False) -> tuple[str, list[Any]]:
    # `s.status = 'published'` literally, so SQLite picks the partial indexes of migration 0030; for a
    # list of receipt numbers the unary + keeps it off the status index (a scan of every published
    # row, 80 ms at 100k) so that it uses the UNIQUE index on receipt_no.
    # (PostgreSQL has no unary + on text, and its planner needs no such hint.)
    where = ["+s.status = 'published'" if f.receipt_nos is not None and not pg else "s.status = 'published'"]
    params: list[Any] = []
    if f.section:
        where.append("s.section = ?")
        params.append(f.section)
    if f.received_month:
        where.append("s.received_at >= ? AND s.received_at < ?")
        params += [f.received_month, next_month(f.received_month)]
    if f.received_from:
        where.append("s.received_at >= ?")
        params.append(f.received_from)
    if f.received_to:
        where.append("s.received_at < ?")
        params.append(f.received_to)
    if f.timeliness == "ontime":
        where.append("s.due_at IS NOT NULL AND s.answered_at IS NOT NULL AND substr(s.answered_at, 1, 10) <= s.due_at")
    elif f.timeliness == "late":
        where.append("s.due_at IS NOT NULL AND s.answered_at IS NOT NULL AND substr(s.answered_at, 1, 10) > s.due_at")
    if f.receipt_nos is not None:
        where.append(f"s.receipt_no IN ({', '.join('?' * len(f.receipt_nos))})" if f.receipt_nos else "s.id < 0")
        params += list(f.receipt_nos)
    if f.terms is not None:
        fts = fts_clause(pg, "public_fts", "s.id", f.terms)
        if fts:
            where.append(fts[0])
            params.append(fts[1])
        else:  # the query had no searchable word: match nothing rather than everything
            where.append("s.id < 0")
    return " AND ".join(where), params


async def search(
    conn: aiosqlite.Connection, f: PublicFilter, *, limit: int = 20, offset: int = 0
) -> tuple[list[PublicItem], int]:
    """Published items matching ``f``, newest publication first, and their count (capped)."""
    clause, params = _where(f, is_pg(conn))
    counted = await conn.execute_fetchall(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {_source(f, is_pg(conn))} WHERE {clause} LIMIT ?) AS capped", (*params, COUNT_CAP + 1)
    )
    total = int(counted[0][0])
    # Deferred join: page through index entries only, then fetch and join the 20 rows of the page,
    # so a deep OFFSET skips index entries instead of fully built rows.
    page_ids = (
        f"SELECT s.id FROM {_source(f, is_pg(conn))} WHERE {clause} ORDER BY s.published_at DESC, s.id DESC LIMIT ? OFFSET ?"
    )
    rows = await conn.execute_fetchall(
        f"{_SELECT} WHERE s.id IN ({page_ids}) ORDER BY s.published_at DESC, s.id DESC",
        (*params, limit, offset),
    )
    return [_item(r) for r in rows], total


async def get(conn: aiosqlite.Connection, receipt_no: str) -> PublicItem | None:
    # execute_fetchall: one trip to the reader's thread instead of three (execute, fetch, close);
    # under load each trip waits a turn of the busy event loop (item pages, issue #7).
    rows = await conn.execute_fetchall(f"{_SELECT} WHERE s.status = 'published' AND s.receipt_no = ?", (receipt_no,))
    return _item(rows[0]) if rows else None


async def by_receipts(conn: aiosqlite.Connection, receipt_nos: Sequence[str]) -> list[PublicItem]:
    """The published ones among ``receipt_nos``, in the given order (others silently dropped)."""
    if not receipt_nos:
        return []
    items, _ = await search(conn, PublicFilter(receipt_nos=list(receipt_nos)), limit=len(receipt_nos))
    found = {i.receipt_no: i for i in items}
    return [found[r] for r in receipt_nos if r in found]


TermsRow = tuple[int, str, list[str]]  # (id, receipt_no, public terms): what the similarity index holds


async def _terms_rows(conn: aiosqlite.Connection, where: str, params: Sequence[Any], *,
                      source: str = "submissions s") -> list[TermsRow]:
    rows = await conn.execute_fetchall(
        f"SELECT s.id, s.receipt_no, f.terms FROM {source} JOIN public_fts f ON f.rowid = s.id"
        f" WHERE s.status = 'published' AND {where}", params)
    return [(r[0], r[1], r[2].split()) for r in rows]


async def public_terms_after(conn: aiosqlite.Connection, after_id: int, limit: int = 1000) -> list[TermsRow]:
    """Published items with id > ``after_id``, in id order (the start-up rebuild of the similarity
    index pages through these)."""
    return await _terms_rows(conn, "s.id > ? ORDER BY s.id LIMIT ?", (after_id, limit),
                             source=f"submissions s{_table_walk(conn)}")


async def published_after(conn: aiosqlite.Connection, after_id: int, limit: int = 500) -> list[PublicItem]:
    """Published items with id > ``after_id`` in id order (open data downloads page with this)."""
    # NOT INDEXED: walk the table in rowid order; the status index would sort all rows per batch.
    async with conn.execute(
        f"{_COLS} FROM submissions s{_table_walk(conn)}{_JOINS}"
        " WHERE s.status = 'published' AND s.id > ? ORDER BY s.id LIMIT ?",
        (after_id, limit),
    ) as cur:
        return [_item(r) for r in await cur.fetchall()]


async def first_received_month(conn: aiosqlite.Connection) -> str | None:
    """The month of the earliest published item (the board's month filter starts there)."""
    async with conn.execute(
        f"SELECT MIN(received_at) FROM {_source(PublicFilter(received_from='0'), is_pg(conn))}"
        " WHERE s.status = 'published'"
    ) as cur:
        row = await cur.fetchone()
    return row[0][:7] if row and row[0] else None


async def last_published_at(conn: aiosqlite.Connection, section: str | None = None) -> str | None:
    f = PublicFilter(section=section)
    clause, params = _where(f, is_pg(conn))
    async with conn.execute(
        f"SELECT s.published_at FROM {_source(f, is_pg(conn))} WHERE {clause} ORDER BY s.published_at DESC, s.id DESC LIMIT 1",
        params,
    ) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def public_generation(conn: aiosqlite.Connection) -> int:
    """The counter that triggers bump whenever anything public changes (migration 0070)."""
    rows = await conn.execute_fetchall("SELECT n FROM public_generation WHERE id = 1")
    return int(rows[0][0]) if rows else 0


async def public_terms_published_since(conn: aiosqlite.Connection, since: str,
                                       limit: int = 500) -> list[tuple[str, str, list[str]]]:
    """(published_at, receipt_no, public terms) of items published after ``since``, oldest first."""
    async with conn.execute(
        "SELECT s.published_at, s.receipt_no, f.terms FROM submissions s JOIN public_fts f ON f.rowid = s.id"
        " WHERE s.status = 'published' AND s.published_at > ? ORDER BY s.published_at, s.id LIMIT ?",
        (since, limit),
    ) as cur:
        return [(r[0], r[1], r[2].split()) for r in await cur.fetchall()]


async def newest_marks(conn: aiosqlite.Connection) -> tuple[int, str]:
    """(highest submission id, latest publication time): where another process's new items begin."""
    async with conn.execute("SELECT COALESCE(MAX(id), 0), COALESCE(MAX(published_at), '') FROM submissions") as cur:
        row = await cur.fetchone()
    return int(row[0]), str(row[1])


# -- related items (migration 0090): each published item's stored list -------------------------------
RelatedList = list[tuple[PublicItem, float]]


async def related_of(conn: aiosqlite.Connection, sub_id: int) -> RelatedList | None:
    """The item's related items that are still published, best first, with their scores;
    None while its list has not been computed yet. One query (see ``get``)."""
    rows = await conn.execute_fetchall(
        f"{_COLS}, r.score FROM public_related_lists l"
        " LEFT JOIN public_related r ON r.submission_id = l.submission_id"
        " LEFT JOIN submissions s ON s.id = r.related_id AND s.status = 'published'"
        f"{_JOINS} WHERE l.submission_id = ? ORDER BY r.rank",
        (sub_id,),
    )
    if not rows:
        return None
    return [(_item(row), float(row["score"])) for row in rows if row["id"] is not None]


async def lists_to_compute(conn: aiosqlite.Connection, before_id: int | None, *, stale_below: int,
                           limit: int) -> list[TermsRow]:
    """Published items, id < ``before_id``, newest first (the most visited), whose related list is
    missing or was computed when the similarity index held fewer than ``stale_below`` items."""
    return await _terms_rows(
        conn, "s.id < ? AND NOT EXISTS (SELECT 1 FROM public_related_lists l WHERE l.submission_id = s.id"
        " AND l.index_size >= ?) ORDER BY s.id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, stale_below, limit))


async def terms_of(conn: aiosqlite.Connection, sub_ids: Sequence[int]) -> list[TermsRow]:
    """Those of ``sub_ids`` that are published, in id order."""
    if not sub_ids:
        return []
    return await _terms_rows(conn, f"s.id IN ({', '.join('?' for _ in sub_ids)}) ORDER BY s.id", list(sub_ids))


async def related_ids(conn: aiosqlite.Connection, sub_id: int) -> list[int]:
    """The ids on ``sub_id``'s stored list (published or not), best first."""
    async with conn.execute("SELECT related_id FROM public_related WHERE submission_id = ? ORDER BY rank",
                            (sub_id,)) as cur:
        return [int(r[0]) for r in await cur.fetchall()]


async def listed_by(conn: aiosqlite.Connection, sub_id: int) -> list[int]:
    """The items whose stored list names ``sub_id``."""
    async with conn.execute("SELECT DISTINCT submission_id FROM public_related WHERE related_id = ?"
                            " ORDER BY submission_id", (sub_id,)) as cur:
        return [int(r[0]) for r in await cur.fetchall()]


async def store_related(conn: aiosqlite.Connection, lists: dict[int, list[tuple[str, float]]], *,
                        now: str, index_size: int) -> int:
    """Store each item's list of (receipt_no, score), replacing an earlier one; returns how many
    lists were stored. Items no longer published are skipped (taken down since the lookup), and
    so are receipt numbers that no longer exist."""
    if not lists:
        return 0
    marks = ", ".join("?" for _ in lists)
    async with conn.execute(f"SELECT id FROM submissions WHERE status = 'published' AND id IN ({marks})",
                            list(lists)) as cur:
        live = {int(r[0]) for r in await cur.fetchall()}
    receipts = sorted({r for sub_id in live for r, _ in lists[sub_id]})
    ids: dict[str, int] = {}
    for start in range(0, len(receipts), 500):
        chunk = receipts[start:start + 500]
        async with conn.execute(
            f"SELECT receipt_no, id FROM submissions WHERE receipt_no IN ({', '.join('?' for _ in chunk)})", chunk,
        ) as cur:
            ids.update({r[0]: int(r[1]) for r in await cur.fetchall()})
    rows: list[tuple[int, int, int, float]] = []
    for sub_id in sorted(live):
        ranked = [(ids[r], s) for r, s in lists[sub_id] if r in ids]
        rows += [(sub_id, rank, rel, score) for rank, (rel, score) in enumerate(ranked, start=1)]
        await conn.execute("DELETE FROM public_related WHERE submission_id = ?", (sub_id,))
        await conn.execute(
            "INSERT INTO public_related_lists (submission_id, computed_at, index_size) VALUES (?, ?, ?)"
            " ON CONFLICT (submission_id) DO UPDATE SET computed_at = excluded.computed_at,"
            " index_size = excluded.index_size",
            (sub_id, now, index_size),
        )
    if rows:
        await conn.executemany(
            "INSERT INTO public_related (submission_id, rank, related_id, score) VALUES (?, ?, ?, ?)", rows)
    return len(live)
