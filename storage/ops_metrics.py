"""Aggregate numbers for the monitoring endpoint (/metrics): cheap queries on indexed columns."""

from __future__ import annotations

from typing import Any

import aiosqlite


async def _pairs(conn: aiosqlite.Connection, sql: str, params: tuple = ()) -> dict[str, int]:
    async with conn.execute(sql, params) as cur:
        return {str(r[0]): int(r[1]) for r in await cur.fetchall()}


async def snapshot(conn: aiosqlite.Connection, *, today: str) -> dict[str, Any]:
    """Counts by channel and status, outbox backlog, overdue items (due before ``today``, not done)."""
    out: dict[str, Any] = {
        "by_channel": await _pairs(conn, "SELECT channel, COUNT(*) FROM submissions GROUP BY channel"),
        "by_status": await _pairs(conn, "SELECT status, COUNT(*) FROM submissions GROUP BY status"),
        "outbox": await _pairs(conn, "SELECT status, COUNT(*) FROM outbox GROUP BY status"),
    }
    async with conn.execute("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'") as cur:
        out["oldest_pending"] = (await cur.fetchone())[0]
    async with conn.execute(
        "SELECT COUNT(*) FROM submissions WHERE due_at IS NOT NULL AND due_at < ?"
        " AND status NOT IN ('approved', 'published', 'closed')", (today,)
    ) as cur:
        out["overdue"] = int((await cur.fetchone())[0])
    async with conn.execute("SELECT COUNT(*) FROM submissions WHERE erased_at IS NOT NULL") as cur:
        out["erased"] = int((await cur.fetchone())[0])
    return out
