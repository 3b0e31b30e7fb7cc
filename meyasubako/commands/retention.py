"""``meyasubako retention [--dry-run] [--days N] [--db PATH]``: erase personal data past its retention."""

from __future__ import annotations

import argparse
import asyncio
import json

from meyasubako import clock, ops
from meyasubako.commands.common import add_db_flag, fail, open_db, settings_from
from meyasubako.privacy import FIELD_LABELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help="erase personal data of items finished longer ago than the retention period")
    p.add_argument("--dry-run", action="store_true", help="only list what would be erased")
    p.add_argument("--days", type=int, help="retention in days (env MEYASUBAKO_RETENTION_DAYS, default 1826)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_db_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    days = settings.retention_days if args.days is None else args.days
    if days < 0:
        return fail("--days must be 0 (keep forever) or positive")
    if days == 0:
        print("retention is off (0 days): nothing is erased")
        return 0
    if not settings.db_path.is_file():
        return fail(f"no database at {settings.db_path}")
    return asyncio.run(_run(settings, days, args))


async def _run(settings, days: int, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    async with open_db(settings) as db:
        report = await ops.retention_pass(db, days=days, files_dir=settings.files_dir, now=clock.jst_now(),
                                          dry_run=args.dry_run)
    if args.json:
        print(json.dumps({
            "cutoff": report.cutoff, "dry_run": report.dry_run,
            "candidates": [{k: c[k] for k in ("receipt_no", "status", "closed_at", "fields")} for c in report.candidates],
            "erased": [{"receipt_no": e.receipt_no, "fields": e.fields, "rows": e.rows, "files": len(e.files)}
                       for e in report.erased],
        }, ensure_ascii=False, indent=1))
        return 0
    verb = "would erase" if report.dry_run else "erased"
    print(f"retention: {days} days; items finished on or before {report.cutoff}")
    for c in report.candidates:
        labels = "、".join(FIELD_LABELS[f] for f in c["fields"]) or "（個人情報なし）"
        print(f"  {c['receipt_no']}  {c['status']:9}  finished {c['closed_at']}  {labels}")
    count = len(report.candidates) if report.dry_run else len(report.erased)
    print(f"{verb} the personal data of {count} item(s)")
    if not report.dry_run and len(report.erased) < len(report.candidates):
        return fail(f"{len(report.candidates) - len(report.erased)} item(s) could not be erased; see the log", 1)
    return 0
