"""``meyasubako backup --to FILE [--db PATH]``: a consistent copy of a live installation."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from meyasubako import clock
from meyasubako.commands.common import add_db_flag, fail, settings_from
from storage import backup as bk


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="back up the database and stored files while the service runs (SQLite; PostgreSQL: pg_dump)")
    p.add_argument("--to", required=True, metavar="FILE",
                   help="backup file to create (.tar.gz); a directory gets a time-stamped file inside")
    add_db_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.is_postgres:
        return fail("backup copies a SQLite file; for PostgreSQL use pg_dump (e.g. pg_dump -Fc -f FILE URL) "
                    "or the server's own backups, and copy MEYASUBAKO_FILES_DIR beside it")
    out = Path(args.to)
    now = clock.jst_now()
    if out.is_dir():
        out = out / bk.backup_name(now)
    try:
        res = bk.backup(settings.db_path, settings.files_dir, out, now=now.astimezone(dt.UTC))
    except bk.BackupError as exc:
        return fail(str(exc))
    print(f"backup written: {res.path} (schema {res.schema_version}, "
          f"{res.counts.get('submissions', 0)} submissions, {res.files} files, {res.bytes} bytes, "
          f"{res.seconds:.2f} s)")
    return 0
