"""Private attachments (photos sent over LINE): rows point at files under the private files directory."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True)
class Attachment:
    id: int
    submission_id: int | None
    draft_id: str | None
    kind: str
    mime: str
    size: int
    sha256: str
    path: str
    created_at: str


_COLS = "id, submission_id, draft_id, kind, mime, size, sha256, path, created_at"


def _att(row: aiosqlite.Row) -> Attachment:
    return Attachment(**dict(row))


async def add_to_draft(
    conn: aiosqlite.Connection, *, draft_id: str, kind: str, mime: str, size: int, sha256: str, path: str, now: str
) -> int:
    async with conn.execute(
        "INSERT INTO attachments (draft_id, kind, mime, size, sha256, path, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (draft_id, kind, mime, size, sha256, path, now),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0])


async def count_for_draft(conn: aiosqlite.Connection, draft_id: str) -> int:
    async with conn.execute("SELECT COUNT(*) FROM attachments WHERE draft_id = ?", (draft_id,)) as cur:
        return int((await cur.fetchone())[0])


async def attach_draft_to_submission(conn: aiosqlite.Connection, draft_id: str, submission_id: int) -> None:
    await conn.execute(
        "UPDATE attachments SET submission_id = ? WHERE draft_id = ? AND submission_id IS NULL",
        (submission_id, draft_id),
    )


async def delete_for_draft(conn: aiosqlite.Connection, draft_id: str) -> list[str]:
    """Remove a discarded draft's unsent photos; returns their file paths so the caller deletes the files."""
    async with conn.execute(
        "DELETE FROM attachments WHERE draft_id = ? AND submission_id IS NULL RETURNING path", (draft_id,)
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def by_id(conn: aiosqlite.Connection, attachment_id: int) -> Attachment | None:
    async with conn.execute(f"SELECT {_COLS} FROM attachments WHERE id = ?", (attachment_id,)) as cur:
        row = await cur.fetchone()
    return _att(row) if row else None


async def for_submission(conn: aiosqlite.Connection, submission_id: int) -> list[Attachment]:
    async with conn.execute(
        f"SELECT {_COLS} FROM attachments WHERE submission_id = ? ORDER BY id", (submission_id,)
    ) as cur:
        return [_att(r) for r in await cur.fetchall()]
