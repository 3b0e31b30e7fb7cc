"""``meyasubako check [--db PATH|URL]``: verify a database; exit 0 only when it is consistent."""

from __future__ import annotations

import argparse
import sqlite3

from meyasubako.commands.common import add_db_flag, fail, settings_from
from storage import check
from storage.endpoint import EndpointError, redact


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="verify a database (integrity, foreign keys, schema, receipts, audit trail); "
                                     "on PostgreSQL the logical checks only (the server enforces foreign keys)")
    add_db_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.is_postgres:
        try:
            findings = check.run_checks_pg(settings.db)
        except EndpointError as exc:
            return fail(str(exc))
        print(check.report(findings, redact(settings.db), check.PG_NOTE))
        return 0 if all(f.ok for f in findings) else 1
    path = settings.db_path
    try:
        findings = check.run_checks(path)
    except FileNotFoundError as exc:
        return fail(str(exc))
    except sqlite3.DatabaseError as exc:  # not a database at all (or unreadable)
        print(f"meyasubako check: {path}\n  [FAIL] cannot open: {exc}\nresult: INCONSISTENT")
        return 1
    print(check.report(findings, path))
    return 0 if all(f.ok for f in findings) else 1
