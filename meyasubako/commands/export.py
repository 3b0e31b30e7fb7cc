"""``meyasubako export [--format jsonl|csv]``: every submission, staff view (unmasked), to stdout."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from typing import Any

from meyasubako.commands.common import add_db_flag, open_db, settings_from
from meyasubako.domain import Submission
from storage import submissions as subs

FIELDS = [
    "receipt_no", "channel", "text", "place", "lat", "lon", "contact", "consent", "section", "suggested_section",
    "status", "close_reason", "received_at", "updated_at", "due_at", "answered_at", "published_at",
    "public_summary", "answer",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export every submission (staff view) as JSONL or CSV")
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    add_db_flag(p)
    p.set_defaults(func=run)


def record(sub: Submission, answer: str | None) -> dict[str, Any]:
    return {
        "receipt_no": sub.receipt_no, "channel": sub.channel, "text": sub.text, "place": sub.place,
        "lat": sub.lat, "lon": sub.lon, "contact": sub.contact, "consent": sub.consent, "section": sub.section,
        "suggested_section": sub.suggested_section, "status": str(sub.status), "close_reason": sub.close_reason,
        "received_at": sub.received_at, "updated_at": sub.updated_at, "due_at": sub.due_at,
        "answered_at": sub.answered_at, "published_at": sub.published_at, "public_summary": sub.public_summary,
        "answer": answer,
    }


def run(args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    asyncio.run(_export(args, out))
    out.flush()
    return 0


async def _export(args: argparse.Namespace, out: Any) -> None:
    async with open_db(settings_from(args)) as db, db.read() as conn:
        writer = None
        buf = io.StringIO()
        if args.format == "csv":
            out.write("\ufeff".encode())  # BOM: Excel opens UTF-8 CSV correctly only with it
            writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\r\n")
            writer.writeheader()
        async for sub in subs.iter_all(conn):
            ans = await subs.answer_for(conn, sub.id)
            rec = record(sub, ans.body if ans else None)
            if writer is not None:
                writer.writerow(rec)
            else:
                buf.write(json.dumps(rec, ensure_ascii=False) + "\n")
            if buf.tell() > 64_000:
                out.write(buf.getvalue().encode("utf-8"))
                buf.seek(0)
                buf.truncate()
        out.write(buf.getvalue().encode("utf-8"))
