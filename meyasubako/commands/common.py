"""Helpers shared by commands: settings from env + flags, opening the database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from meyasubako.catalog import load_sections
from meyasubako.settings import Settings, SettingsError, from_env
from storage import sections as sections_db
from storage.connect import AnyDatabase, make_database


def add_db_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="SQLite database path or postgresql:// URL (env MEYASUBAKO_DB; default var/meyasubako.sqlite3)")


def settings_from(args: argparse.Namespace) -> Settings:
    return from_env().with_overrides(db=getattr(args, "db", None))


def fail(message: str, code: int = 2) -> int:
    print(f"meyasubako: {message}", file=sys.stderr)
    return code


@asynccontextmanager
async def open_db(settings: Settings, *, readers: int = 1) -> AsyncIterator[AnyDatabase]:
    """Open (migrating and seeding sections if needed) for a CLI command, close on exit."""
    db = make_database(settings.db, readers=readers)
    await db.open()
    catalog = load_sections()

    async def seed(conn):  # type: ignore[no-untyped-def]
        await sections_db.seed(conn, catalog)

    try:
        await db.write(seed)
        yield db
    finally:
        await db.close()


__all__ = ["SettingsError", "add_db_flag", "fail", "open_db", "settings_from"]
