"""``meyasubako migrate [--db URL] [--to VERSION] [--status]``: bring a database's schema up to date.

``serve`` migrates at start as well; this command does it explicitly (before a deploy, on a new
PostgreSQL database, before ``copy``) and says what it did. Both backends. Exit codes: 0 done /
up to date, 1 (``--status`` only) migrations are missing, 2 the database cannot be opened, a
migration failed, or the database is newer than this program.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3

import asyncpg

from meyasubako.commands.common import add_db_flag, fail, settings_from
from storage import migrations
from storage.endpoint import Endpoint, EndpointError, open_endpoint


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="apply schema migrations to a SQLite file or PostgreSQL database "
                                       "(serve also does this at start)")
    add_db_flag(p)
    p.add_argument("--to", type=int, metavar="VERSION",
                   help="apply only migrations up to this version (one of those --status lists)")
    p.add_argument("--status", action="store_true",
                   help="list applied and missing migrations without applying any (exit 1 when some are missing)")
    p.set_defaults(func=run)


def _name(version: int, dialect: str) -> str:
    return next((m.name.removesuffix(".sql") for m in migrations.available(dialect) if m.version == version),
                f"{version:04d}")


async def _describe(ep: Endpoint) -> tuple[int, list[int]]:
    return await migrations.current_version(ep.conn), await migrations.missing_versions(ep.conn)


async def _run(db: str, to: int | None, status: bool) -> int:
    latest = migrations.latest_version()
    shipped = [m.version for m in migrations.available()]
    if to is not None and to not in shipped:
        return fail(f"--to {to}: not a migration version of this program (versions: "
                    f"{', '.join(str(v) for v in shipped)})")
    try:
        ep = await open_endpoint(db, create=not status, readonly=status)
    except EndpointError as exc:
        return fail(str(exc))
    try:
        print(f"database: {ep.label} ({ep.dialect})")
        try:
            current, missing = await _describe(ep)
        except (sqlite3.DatabaseError, asyncpg.PostgresError) as exc:
            return fail(f"cannot read the schema version of {ep.label}: {exc}")
        if current > latest:
            print(f"schema version: {current}, newer than this program ({latest})")
            return fail(f"the database was migrated by a newer meyasubako (schema {current} > {latest}): "
                        "run that version, or restore a backup made before the upgrade")
        if status:
            print(f"schema version: {current} (this program: {latest})")
            for v in missing:
                print(f"missing: {_name(v, ep.dialect)}")
            print("up to date" if not missing else f"{len(missing)} migration(s) to apply: run `meyasubako migrate`")
            return 1 if missing else 0
        try:
            applied = await migrations.migrate(ep.conn, to)
        except (sqlite3.DatabaseError, asyncpg.PostgresError) as exc:
            current, _ = await _describe(ep)
            return fail(f"a migration failed and was rolled back (schema version stays {current}): {exc}")
        for v in applied:
            print(f"applied: {_name(v, ep.dialect)}")
        current, missing = await _describe(ep)
        if not applied:
            print("nothing to apply")
        left = f"; {len(missing)} later migration(s) not applied (--to {to})" if missing else "; up to date"
        print(f"schema version: {current} (this program: {latest}){left}")
        return 0
    finally:
        await ep.close()


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings_from(args).db, args.to, args.status))
