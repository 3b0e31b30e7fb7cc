"""The few places where SQLite and PostgreSQL SQL differ, asked of a connection.

A connection from ``storage.pg`` says ``dialect = "postgresql"``; SQLite connections (aiosqlite's and
``storage.inline``'s) carry no such attribute. Storage functions branch on :func:`is_pg` only where
one SQL text cannot serve both: full-text search, row locks, date arithmetic, the catalog.
"""

from __future__ import annotations

from typing import Any


def is_pg(conn: Any) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def for_update(conn: Any) -> str:
    """Row lock for a read-then-write inside a write job.

    SQLite needs none: its single writer runs one job at a time. On PostgreSQL several processes
    write at once, and READ COMMITTED lets two jobs read the same row before either writes it.
    """
    return " FOR UPDATE" if is_pg(conn) else ""


def days_between(conn: Any, later: str, earlier: str) -> str:
    """Whole days between two ISO date(-time) text columns, as an SQL expression."""
    if is_pg(conn):
        return f"(substr({later}, 1, 10)::date - substr({earlier}, 1, 10)::date)"
    return f"CAST(julianday(substr({later}, 1, 10)) - julianday(substr({earlier}, 1, 10)) AS INTEGER)"
