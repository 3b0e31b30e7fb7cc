"""``meyasubako restore --from FILE --db PATH [--force]``: bring a backup back after a disk failure."""

from __future__ import annotations

import argparse
from pathlib import Path

from meyasubako.commands.common import fail, settings_from
from storage import backup as bk


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("restore", help="restore a backup into an empty location (or --force over an old one); SQLite only")
    p.add_argument("--from", dest="src", required=True, metavar="FILE", help="backup file made by `meyasubako backup`")
    p.add_argument("--db", required=True, help="database path to restore to (its files directory goes beside it)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing (stopped) database; the old files are kept as *.replaced-<time>")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.is_postgres:
        return fail("restore writes a SQLite file; for PostgreSQL use pg_restore with a pg_dump file, or restore "
                    "the backup to a SQLite file and `meyasubako copy --from FILE --to URL`")
    src = Path(args.src)
    if not src.is_file():
        return fail(f"no backup file at {src}")
    try:
        res = bk.restore(src, settings.db_path, settings.files_dir, force=args.force)
    except bk.TargetInUse as exc:
        return fail(str(exc), 3)
    except bk.BackupError as exc:
        return fail(str(exc))
    print(f"restored {src} -> {res.db_path} (schema {res.schema_version}, "
          f"{res.counts.get('submissions', 0)} submissions, {res.files} files)")
    for p in res.replaced:
        print(f"kept the previous copy as {p}")
    return 0
