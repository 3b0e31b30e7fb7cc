"""Versioned schema migrations.

Each migration is a file ``migrations/NNNN_name.sql``; NNNN is its version. The PostgreSQL backend
applies ``migrations/postgresql/NNNN_name.sql``: the same versions and names, each the same schema
change written in PostgreSQL's SQL (a test checks the two sets match one for one). Applied versions are
recorded in ``schema_version``; applying is idempotent (re-running is a no-op) and an older
database is upgraded in place, one migration per transaction. A database is current when every
shipped version is recorded (not merely the highest one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import aiosqlite

from storage.dialect import is_pg

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available(dialect: str = "sqlite") -> list[Migration]:
    """All migrations shipped with the package for ``dialect``, in version order."""
    found: list[Migration] = []
    folder = resources.files("storage").joinpath("migrations")
    if dialect == "postgresql":
        folder = folder.joinpath("postgresql")
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


def latest_version() -> int:
    return max(m.version for m in available())


def _dialect(conn: aiosqlite.Connection) -> str:
    return "postgresql" if is_pg(conn) else "sqlite"


async def missing_versions(conn: aiosqlite.Connection) -> list[int]:
    """Shipped migrations that this database has not recorded."""
    shipped = available(_dialect(conn))
    if await current_version(conn) == 0:
        return [m.version for m in shipped]
    async with conn.execute("SELECT version FROM schema_version") as cur:
        have = {int(r[0]) for r in await cur.fetchall()}
    return [m.version for m in shipped if m.version not in have]


async def current_version(conn: aiosqlite.Connection) -> int:
    probe = ("SELECT to_regclass('schema_version') IS NOT NULL" if is_pg(conn) else
             "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    async with conn.execute(probe) as cur:
        row = await cur.fetchone()
        if row is None or not row[0]:
            return 0
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0])


async def migrate(conn: aiosqlite.Connection, upto: int | None = None) -> list[int]:
    """Apply every migration newer than the database's version; return the versions applied."""
    if is_pg(conn):
        return await _migrate_pg(conn, upto)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
    )
    async with conn.execute("SELECT version FROM schema_version") as cur:
        have = {int(r[0]) for r in await cur.fetchall()}
    applied: list[int] = []
    # Every migration not yet recorded is applied, in version order, even one numbered below the
    # newest applied: branches developed side by side number their migrations in separate ranges,
    # and a database that already has 0050 must still get a 0040 that arrives later.
    for mig in available():
        if mig.version in have or (upto is not None and mig.version > upto):
            continue
        # executescript runs outside the implicit transaction machinery, so we frame it ourselves:
        # a failing migration leaves the database at the previous version.
        script = (
            "BEGIN IMMEDIATE;\n"
            + mig.sql
            + f"\nINSERT INTO schema_version (version, name) VALUES ({mig.version}, '{mig.name}');\nCOMMIT;"
        )
        try:
            await conn.executescript(script)
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        applied.append(mig.version)
    return applied


async def _migrate_pg(conn: Any, upto: int | None) -> list[int]:
    """PostgreSQL: each migration in its own transaction (DDL is transactional there), under an
    advisory lock, so that several processes starting at once apply each version exactly once."""
    raw = conn.raw
    applied: list[int] = []
    for mig in available("postgresql"):
        if upto is not None and mig.version > upto:
            continue
        async with raw.transaction():
            await raw.execute("SELECT pg_advisory_xact_lock(hashtext('meyasubako:migrate'))")
            await raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " applied_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'))"
            )
            if await raw.fetchval("SELECT 1 FROM schema_version WHERE version = $1", mig.version):
                continue
            await raw.execute(mig.sql)
            await raw.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", mig.version, mig.name)
        applied.append(mig.version)
    return applied
