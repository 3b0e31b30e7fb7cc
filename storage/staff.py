"""Staff-side records around submissions: internal notes, answer templates, the admin audit trail,
and the examples the router learns from."""

from __future__ import annotations

import aiosqlite

from meyasubako.domain import AnswerTemplate, AuditEntry, Note
from storage.errors import INTEGRITY_ERRORS, Conflict


# -- internal notes -------------------------------------------------------------------------------
async def add_note(conn: aiosqlite.Connection, sub_id: int, *, at: str, author: str, body: str) -> None:
    await conn.execute(
        "INSERT INTO notes (submission_id, at, author, body) VALUES (?, ?, ?, ?)", (sub_id, at, author, body)
    )


async def notes_for(conn: aiosqlite.Connection, sub_id: int) -> list[Note]:
    async with conn.execute(
        "SELECT id, submission_id, at, author, body FROM notes WHERE submission_id = ? ORDER BY id", (sub_id,)
    ) as cur:
        return [Note(**dict(r)) for r in await cur.fetchall()]


# -- answer templates -------------------------------------------------------------------------------
_TPL = "SELECT id, section, title, body, updated_at FROM answer_templates"


async def templates_for(conn: aiosqlite.Connection, section: str) -> list[AnswerTemplate]:
    async with conn.execute(_TPL + " WHERE section = ? ORDER BY title", (section,)) as cur:
        return [AnswerTemplate(**dict(r)) for r in await cur.fetchall()]


async def template_by_id(conn: aiosqlite.Connection, template_id: int) -> AnswerTemplate | None:
    async with conn.execute(_TPL + " WHERE id = ?", (template_id,)) as cur:
        row = await cur.fetchone()
    return AnswerTemplate(**dict(row)) if row else None


async def save_template(
    conn: aiosqlite.Connection, *, template_id: int | None, section: str, title: str, body: str, now: str
) -> int:
    try:
        if template_id is None:
            async with conn.execute(
                "INSERT INTO answer_templates (section, title, body, updated_at) VALUES (?, ?, ?, ?) RETURNING id",
                (section, title, body, now),
            ) as cur:
                return int((await cur.fetchone())[0])
        await conn.execute(
            "UPDATE answer_templates SET title = ?, body = ?, updated_at = ? WHERE id = ? AND section = ?",
            (title, body, now, template_id, section),
        )
        return template_id
    except INTEGRITY_ERRORS as exc:
        raise Conflict(str(exc)) from exc


async def delete_template(conn: aiosqlite.Connection, template_id: int, section: str) -> bool:
    cur = await conn.execute("DELETE FROM answer_templates WHERE id = ? AND section = ?", (template_id, section))
    return cur.rowcount > 0


# -- admin audit (users, sections, templates) -------------------------------------------------------
async def audit(conn: aiosqlite.Connection, *, at: str, actor: str, action: str, target: str, note: str = "") -> None:
    await conn.execute(
        "INSERT INTO admin_audit (at, actor, action, target, note) VALUES (?, ?, ?, ?, ?)",
        (at, actor, action, target, note),
    )


async def recent_audit(conn: aiosqlite.Connection, limit: int = 100) -> list[AuditEntry]:
    async with conn.execute(
        "SELECT id, at, actor, action, target, note FROM admin_audit ORDER BY id DESC LIMIT ?", (limit,)
    ) as cur:
        return [AuditEntry(**dict(r)) for r in await cur.fetchall()]


# -- learning -------------------------------------------------------------------------------------------
async def routing_examples(conn: aiosqlite.Connection, limit: int = 50_000) -> list[tuple[str, str]]:
    """(text, section) of items whose section a person set: what the router should learn from."""
    async with conn.execute(
        "SELECT text, section FROM submissions WHERE routed_by LIKE 'user:%' AND section IS NOT NULL"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def staff_terms(conn: aiosqlite.Connection, limit: int = 200_000) -> list[tuple[str, str]]:
    """(receipt_no, space-separated terms) of the newest items, to rebuild the similarity index."""
    async with conn.execute(
        "SELECT receipt_no, terms FROM submissions WHERE terms != '' ORDER BY id DESC LIMIT ?", (limit,)
    ) as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def staff_terms_after(conn: aiosqlite.Connection, after_id: int, limit: int = 500) -> list[tuple[int, str, str]]:
    """(id, receipt_no, terms) of items with id > ``after_id``, in id order (another process's new items)."""
    async with conn.execute(
        "SELECT id, receipt_no, terms FROM submissions WHERE id > ? AND terms != '' ORDER BY id LIMIT ?",
        (after_id, limit),
    ) as cur:
        return [(int(r[0]), r[1], r[2]) for r in await cur.fetchall()]
