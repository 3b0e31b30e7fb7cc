"""Versioned schema migrations.

Each migration is a file ``migrations/NNNN_name.sql``; NNNN is its version. Applied versions are
recorded in ``schema_version``; applying is idempotent (re-running is a no-op) and an older
database is upgraded in place, one migration per transaction. A database is current when every
shipped version is recorded (not merely the highest one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import aiosqlite

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
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


async def missing_versions(conn: aiosqlite.Connection) -> list[int]:
    """Shipped migrations that this database has not recorded."""
    if await current_version(conn) == 0:
        return [m.version for m in available()]
    async with conn.execute("SELECT version FROM schema_version") as cur:
        have = {int(r[0]) for r in await cur.fetchall()}
    return [m.version for m in available() if m.version not in have]


async def current_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ) as cur:
        if await cur.fetchone() is None:
            return 0
    async with conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0])


async def migrate(conn: aiosqlite.Connection, upto: int | None = None) -> list[int]:
    """Apply every migration newer than the database's version; return the versions applied."""
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
