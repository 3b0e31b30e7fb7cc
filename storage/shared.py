"""State that every serve process on one database shares: computed values with a generation number,
and claims of scheduled-job periods (migration 0080)."""

from __future__ import annotations

from typing import Any


async def generation(conn: Any, name: str) -> int:
    async with conn.execute("SELECT generation FROM shared_state WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def load(conn: Any, name: str) -> tuple[int, str] | None:
    async with conn.execute("SELECT generation, body FROM shared_state WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return (int(row[0]), row[1]) if row else None


async def store(conn: Any, name: str, body: str, now: str) -> int:
    """Replace the value; returns its new generation (one more than any before)."""
    async with conn.execute(
        "INSERT INTO shared_state (name, generation, body, updated_at) VALUES (?, 1, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET generation = shared_state.generation + 1, body = excluded.body,"
        " updated_at = excluded.updated_at RETURNING generation",
        (name, body, now),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0])


async def claim_run(conn: Any, name: str, period: str, now: str) -> bool:
    """True for the one caller that claims (name, period); every later caller gets False."""
    async with conn.execute(
        "INSERT INTO job_runs (name, period, started_at) VALUES (?, ?, ?) ON CONFLICT (name, period) DO NOTHING"
        " RETURNING name",
        (name, period, now),
    ) as cur:
        return await cur.fetchone() is not None


async def finish_run(conn: Any, name: str, period: str, now: str, outcome: str) -> None:
    await conn.execute("UPDATE job_runs SET finished_at = ?, outcome = ? WHERE name = ? AND period = ?",
                       (now, outcome[:200], name, period))
