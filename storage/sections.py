"""Sections (課・係): seeded from the catalog, edited by admins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import aiosqlite

from meyasubako.domain import Section


async def seed(conn: aiosqlite.Connection, catalog: Iterable[Mapping[str, Any]]) -> int:
    """Insert catalog sections that the database does not have yet; never overwrite staff edits."""
    n = 0
    for pos, s in enumerate(catalog):
        cur = await conn.execute(
            "INSERT INTO sections (id, name, unit, scope, position) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (s["id"], s["name"], s.get("unit", ""), s.get("scope", ""), pos),
        )
        n += cur.rowcount
    return n


async def all_sections(conn: aiosqlite.Connection, *, active_only: bool = False) -> list[Section]:
    sql = "SELECT id, name, unit, scope, deadline_days, active FROM sections"
    if active_only:
        sql += " WHERE active = 1"
    async with conn.execute(sql + " ORDER BY position, id") as cur:
        rows = await cur.fetchall()
    return [
        Section(r["id"], r["name"], r["unit"], r["scope"], r["deadline_days"], bool(r["active"])) for r in rows
    ]


async def update(
    conn: aiosqlite.Connection, section_id: str, *, name: str, unit: str, deadline_days: int, active: bool
) -> bool:
    cur = await conn.execute(
        "UPDATE sections SET name = ?, unit = ?, deadline_days = ?, active = ? WHERE id = ?",
        (name, unit, deadline_days, int(active), section_id),
    )
    return cur.rowcount > 0
