"""Staff users."""

from __future__ import annotations

import aiosqlite

from meyasubako.domain import Role, User
from storage.errors import INTEGRITY_ERRORS, Conflict


def _user(row: aiosqlite.Row) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        section=row["section"],
        active=bool(row["active"]),
        password_hash=row["password_hash"],
    )


async def add(
    conn: aiosqlite.Connection, *, name: str, password_hash: str, role: str, section: str | None, now: str
) -> User:
    try:
        async with conn.execute(
            "INSERT INTO users (name, password_hash, role, section, created_at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (name, password_hash, role, section, now),
        ) as cur:
            row = await cur.fetchone()
    except INTEGRITY_ERRORS as exc:
        raise Conflict(str(exc)) from exc
    user = await by_id(conn, int(row[0]))
    assert user is not None
    return user


async def by_name(conn: aiosqlite.Connection, name: str) -> User | None:
    async with conn.execute("SELECT * FROM users WHERE name = ?", (name,)) as cur:
        row = await cur.fetchone()
    return _user(row) if row else None


async def by_id(conn: aiosqlite.Connection, user_id: int) -> User | None:
    async with conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)) as cur:
        row = await cur.fetchone()
    return _user(row) if row else None


async def set_password_hash(conn: aiosqlite.Connection, user_id: int, password_hash: str) -> None:
    # A new password also ends every existing session of the account.
    await conn.execute("UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ?",
                       (password_hash, user_id))


async def touch_login(conn: aiosqlite.Connection, user_id: int, now: str) -> None:
    await conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (now, user_id))


async def all_users(conn: aiosqlite.Connection) -> list[User]:
    async with conn.execute("SELECT * FROM users ORDER BY active DESC, name") as cur:
        return [_user(r) for r in await cur.fetchall()]


async def set_active(conn: aiosqlite.Connection, user_id: int, active: bool) -> None:
    await conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(active), user_id))


async def active_in_section(conn: aiosqlite.Connection, section: str) -> list[User]:
    """People who may be assigned an item of ``section``: its staff, and every approver/admin."""
    async with conn.execute(
        "SELECT * FROM users WHERE active = 1 AND (section = ? OR role IN ('approver', 'admin')) ORDER BY role DESC, name",
        (section,),
    ) as cur:
        return [_user(r) for r in await cur.fetchall()]


async def session_epoch(conn: aiosqlite.Connection, user_id: int) -> int:
    async with conn.execute("SELECT session_epoch FROM users WHERE id = ?", (user_id,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else -1


async def revoke_sessions(conn: aiosqlite.Connection, user_id: int) -> None:
    """Every session cookie issued to this user before now stops working."""
    await conn.execute("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?", (user_id,))
