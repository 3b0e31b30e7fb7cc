"""``meyasubako copy --from URL --to URL [--batch N] [--force]``: move a city's database to another backend.

SQLite -> PostgreSQL is the move to several machines; PostgreSQL -> SQLite is the way back. The
target must be empty (a freshly migrated schema is fine) and is migrated first; the source is read
in one snapshot and never written; the target is written in one transaction (all or nothing) and
verified (row counts per table) before it commits. See storage/copy.py.

Exit codes: 0 copied, 2 refused or failed (nothing written to the target), 3 a running serve holds
the SQLite target.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3

import asyncpg

from meyasubako.commands.common import fail
from storage import backup as bk
from storage.connect import is_postgres_url, sqlite_path
from storage.copy import DEFAULT_BATCH, CopyError, copy_database
from storage.endpoint import EndpointError, check_url, redact

FILES_NOTE = ("note: photos are files, not database rows, and were not copied. Copy the files directory "
              "(beside the SQLite file: <name>-files/) to storage every server mounts, and point "
              "MEYASUBAKO_FILES_DIR at it before starting serve on the new database.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("copy", help="copy all data from one database to another, empty one "
                                    "(SQLite -> PostgreSQL, or back)")
    p.add_argument("--from", dest="src", required=True, metavar="URL",
                   help="source: SQLite file path or postgresql:// URL (only read)")
    p.add_argument("--to", dest="dst", required=True, metavar="URL",
                   help="target: postgresql:// URL or SQLite file path; must hold no data (it is migrated first)")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH, metavar="N",
                   help=f"rows per read/insert batch (default {DEFAULT_BATCH})")
    p.add_argument("--force", action="store_true",
                   help="copy even though a running serve holds the SQLite source: the copy is one consistent "
                        "snapshot, but whatever the service accepts after it is not moved")
    p.set_defaults(func=run)


def _in_use(url: str) -> bool:
    return not is_postgres_url(url) and bk.server_running(sqlite_path(url))


def run(args: argparse.Namespace) -> int:
    try:
        check_url(args.src)
        check_url(args.dst)
    except EndpointError as exc:
        return fail(str(exc))
    if args.batch < 1 or args.batch > 1_000_000:
        return fail("--batch must be between 1 and 1000000")
    if _in_use(args.dst):
        return fail(f"a running meyasubako serve holds the target {args.dst}: stop it first", 3)
    if _in_use(args.src) and not args.force:
        return fail(f"a running meyasubako serve holds the source {args.src}: stop it (or put the office "
                    "into maintenance) so that nothing arrives after the copy; --force copies a snapshot anyway")
    try:
        res = asyncio.run(copy_database(args.src, args.dst, batch=args.batch))
    except (CopyError, EndpointError) as exc:
        return fail(str(exc))
    except (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return fail(f"copy failed and was rolled back (the target holds nothing of it): "
                    f"{type(exc).__name__}: {exc}")
    print(f"copied {redact(res.source)} -> {redact(res.target)} (schema {res.schema_version}, "
          f"{res.rows} rows, {res.seconds:.2f} s)")
    width = max(len(t.name) for t in res.tables)
    for t in res.tables:
        print(f"  {t.name:<{width}}  {t.rows:>8} rows  {t.seconds:6.2f} s")
    print("verified: row counts equal in every table")
    print(FILES_NOTE)
    return 0
