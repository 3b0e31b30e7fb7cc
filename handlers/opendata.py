"""Open data: every published item as CSV (UTF-8 with BOM, for Excel) and JSON, streamed.

Only published items and only their public fields (the COLUMNS below, documented on /opendata
and in the README) ever appear: rows come from :mod:`storage.public`, which never selects the
original text, place, coordinates or contact. Both downloads stream in batches, so memory stays
flat at 100k items.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from handlers.feeds import base_url
from handlers.stats import STATS_COLUMNS
from meyasubako import keys
from meyasubako.web import render
from storage import public as pub

# (column, Japanese name, description) — the documented contract of both downloads.
COLUMNS: list[tuple[str, str, str]] = [
    ("receipt_no", "受付番号", "年と通し番号（例: 2026-000123）。各項目のページは /voices/受付番号"),
    ("section_id", "担当ID", "担当課の識別子（Open311 の service_code と同じ）"),
    ("section_name", "担当名", "回答した担当課の名前"),
    ("received_date", "受付日", "YYYY-MM-DD（日本時間）"),
    ("answered_date", "回答日", "YYYY-MM-DD（日本時間）"),
    ("published_date", "掲載日", "YYYY-MM-DD（日本時間）"),
    ("summary", "ご意見（要旨）", "職員が個人情報を伏せて作成し、公開を承認した要旨。投稿の原文ではありません"),
    ("answer", "回答", "市の回答（決裁済み）"),
    ("url", "URL", "掲載ページのURL"),
]
FIELDS = [c for c, _, _ in COLUMNS]
BATCH = 500


def item_record(item: pub.PublicItem, base: str) -> dict[str, str]:
    """The public fields of one item, exactly the documented columns."""
    return {
        "receipt_no": item.receipt_no,
        "section_id": item.section or "",
        "section_name": item.section_name or "",
        "received_date": item.received_at[:10],
        "answered_date": (item.answered_at or "")[:10],
        "published_date": item.published_at[:10],
        "summary": item.summary,
        "answer": item.answer,
        "url": f"{base}/voices/{item.receipt_no}",
    }


async def _batches(request: web.Request) -> AsyncIterator[list[pub.PublicItem]]:
    """Published items in id order; a read connection is held per batch only, never while a slow
    client downloads."""
    db = request.app[keys.DB]
    last = 0
    while True:
        async with db.read() as conn:
            batch = await pub.published_after(conn, last, BATCH)
        if not batch:
            return
        yield batch
        last = batch[-1].id


async def _stream(request: web.Request, content_type: str, filename: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "public, max-age=60",
    })
    await resp.prepare(request)
    return resp


async def voices_csv(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    resp = await _stream(request, "text/csv", "meyasubako-voices.csv")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\r\n")
    buf.write("\ufeff")  # BOM: Excel on Japanese Windows otherwise reads UTF-8 as Shift_JIS
    writer.writeheader()
    async for batch in _batches(request):
        for item in batch:
            writer.writerow(item_record(item, base))
        await resp.write(buf.getvalue().encode("utf-8"))
        buf.seek(0)
        buf.truncate()
    if buf.tell():  # header only (nothing published yet)
        await resp.write(buf.getvalue().encode("utf-8"))
    await resp.write_eof()
    return resp


async def voices_json(request: web.Request) -> web.StreamResponse:
    base = base_url(request)
    resp = await _stream(request, "application/json", "meyasubako-voices.json")
    await resp.write(b'{"columns":' + json.dumps(FIELDS).encode() + b',"items":[')
    first = True
    async for batch in _batches(request):
        parts = []
        for item in batch:
            parts.append(("" if first else ",") + json.dumps(item_record(item, base), ensure_ascii=False))
            first = False
        await resp.write("".join(parts).encode("utf-8"))
    await resp.write(b"]}")
    await resp.write_eof()
    return resp


async def opendata_page(request: web.Request) -> web.Response:
    ctx: dict[str, Any] = {"columns": COLUMNS, "stats_columns": STATS_COLUMNS, "base": base_url(request)}
    return await render(request, "opendata.html", ctx)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/opendata", opendata_page, name="opendata")
    app.router.add_get("/opendata/voices.csv", voices_csv)
    app.router.add_get("/opendata/voices.json", voices_json)
