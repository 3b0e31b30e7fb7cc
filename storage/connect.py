"""Which backend a database URL selects: a file path or ``sqlite:///...`` is SQLite (the single-machine
default), ``postgresql://...`` is PostgreSQL. Both classes offer the same interface: ``open``,
``close``, ``read()``, ``write(fn)``, ``schema_version()``, ``exclusive(name)``, ``dialect``."""

from __future__ import annotations

from pathlib import Path

from storage.db import Database
from storage.pg import PgDatabase

AnyDatabase = Database | PgDatabase


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def sqlite_path(db: str) -> Path:
    return Path(db[len("sqlite:///"):] if db.startswith("sqlite:///") else db)


def make_database(db: str, *, readers: int = 3) -> AnyDatabase:
    if is_postgres_url(db):
        return PgDatabase(db, readers=readers, max_size=max(16, readers * 2))  # per process; PG default max_connections is 100
    return Database(sqlite_path(db), readers=readers)
