"""One database, SQLite file or PostgreSQL URL, opened by an operator tool (``migrate``, ``copy``).

The service opens databases through ``storage.connect`` (pools, a group-commit writer). The tools
need something plainer: ONE connection they drive themselves (their own transactions, a snapshot
read, bulk inserts) and the catalog (tables, columns, identity columns), asked of the database
rather than hard-coded. :class:`Endpoint` is that, for both backends; ``conn`` is the same
aiosqlite-shaped connection the storage layer's functions (and ``storage.migrations``) take.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from storage.connect import is_postgres_url, sqlite_path
from storage.inline import InlineConnection
from storage.pg import PgConnection

CONNECT_TIMEOUT_S = 10


class EndpointError(Exception):
    """The database cannot be opened or is not what the tool needs; the message says why."""


def redact(url: str) -> str:
    """The URL for messages: a password in it is replaced by ``***``."""
    if not is_postgres_url(url):
        return url
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "postgresql://(unparseable URL)"


def check_url(url: str) -> None:
    """Refuse what is neither a SQLite path nor a ``postgresql://`` URL (``mysql://``, ``http://`` ...)."""
    if not url or not url.strip():
        raise EndpointError("empty database URL")
    if "\x00" in url:
        raise EndpointError("the database URL contains a NUL character")
    if "://" in url and not is_postgres_url(url) and not url.startswith("sqlite:///"):
        scheme = url.split("://", 1)[0][:20]
        raise EndpointError(f"unsupported database URL scheme {scheme!r}: give a SQLite file path, "
                            "sqlite:///PATH or postgresql://USER@HOST/DB")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # declared type (SQLite) or data_type (PostgreSQL), lower case
    identity: bool = False


class Endpoint:
    """One open connection to one database, with its catalog."""

    dialect = "sqlite"
    label = ""
    conn: Any

    async def close(self) -> None:
        raise NotImplementedError

    async def tables(self) -> list[str]:
        raise NotImplementedError

    async def columns(self, table: str) -> list[Column]:
        """The columns a row is copied through: generated columns are left out; an FTS table
        (SQLite: a virtual table) lists its ``rowid``, which is the submission id it indexes."""
        raise NotImplementedError

    async def count(self, table: str) -> int:
        async with self.conn.execute(f"SELECT COUNT(*) FROM {table}") as cur:
            row = await cur.fetchone()
        return int(row[0])


class SqliteEndpoint(Endpoint):
    dialect = "sqlite"

    def __init__(self, path: Path, raw: sqlite3.Connection) -> None:
        self.path = path
        self.label = str(path)
        self.raw = raw
        self.conn = InlineConnection(raw)

    async def close(self) -> None:
        self.raw.close()

    def _virtual(self) -> set[str]:
        return {r[0] for r in self.raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")}

    async def tables(self) -> list[str]:
        virtual = self._virtual()
        names = [r[0] for r in self.raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            " ORDER BY name")]
        # FTS5 keeps its index in shadow tables named <table>_data, _idx ...: not data of ours.
        return [n for n in names if not any(n.startswith(v + "_") for v in virtual)]

    async def columns(self, table: str) -> list[Column]:
        cols = [Column(r[1], (r[2] or "").lower(), bool(r[5]) and (r[2] or "").upper() == "INTEGER")
                for r in self.raw.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0]  # 1: hidden (FTS), 2, 3: generated
        if table in self._virtual():
            cols.insert(0, Column("rowid", "integer", True))
        return cols


class PgEndpoint(Endpoint):
    dialect = "postgresql"

    def __init__(self, url: str, raw: asyncpg.Connection) -> None:
        self.url = url
        self.label = redact(url)
        self.raw = raw
        self.conn = PgConnection(raw)

    async def close(self) -> None:
        await self.raw.close()

    async def tables(self) -> list[str]:
        rows = await self.raw.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE' ORDER BY table_name")
        return [r[0] for r in rows]

    async def columns(self, table: str) -> list[Column]:
        rows = await self.raw.fetch(
            "SELECT column_name, data_type, is_identity FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position", table)
        return [Column(r[0], r[1].lower(), r[2] == "YES") for r in rows]


async def open_endpoint(url: str, *, create: bool = False, readonly: bool = False) -> Endpoint:
    """Connect to ``url``. A SQLite file must exist unless ``create``; ``readonly`` opens it so
    that nothing can be written to it (the source of a copy). Raises EndpointError with a reason."""
    check_url(url)
    if is_postgres_url(url):
        try:
            raw = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, OverflowError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise EndpointError(f"cannot connect to PostgreSQL at {redact(url)}: "
                                f"{type(exc).__name__}: {exc}") from exc
        return PgEndpoint(url, raw)
    path = sqlite_path(url)
    if path.is_dir():
        raise EndpointError(f"{path} is a directory, not a SQLite database file")
    if not path.exists() and not create:
        raise EndpointError(f"no database at {path}")
    if not path.parent.is_dir():
        raise EndpointError(f"directory {path.parent} does not exist")
    target = f"file:{quote(str(path.resolve()))}?mode=ro" if readonly else str(path)
    try:
        raw = sqlite3.connect(target, uri=readonly, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise EndpointError(f"cannot open {path}: {exc}") from exc
    try:
        raw.execute("PRAGMA busy_timeout = 30000")
        raw.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            raw.execute("PRAGMA journal_mode = WAL")  # as the service keeps it
        raw.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # a non-database fails here
    except sqlite3.DatabaseError as exc:
        raw.close()
        raise EndpointError(f"cannot open {path} as a SQLite database: {exc}") from exc
    return SqliteEndpoint(path, raw)
