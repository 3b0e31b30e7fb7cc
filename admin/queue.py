"""The queue (per section for staff, every section for 広聴), bulk actions, and CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from urllib.parse import urlencode

from aiohttp import web

from admin import auth, learning
from admin.common import flash, parse_filters, pop_flash, today
from meyasubako import clock, keys
from meyasubako.commands.export import FIELDS, record
from meyasubako.domain import CLOSE_REASONS, DomainError, InvalidInput, User
from meyasubako.web import check_csrf, render
from storage import queue as queue_db
from storage import staff as staff_db
from storage import submissions as subs
from storage import users as users_db

PER_PAGE = 50
MAX_BULK = 200
BULK_OPS = {"route": "担当課を変更", "assign": "担当者を設定", "close": "対応を終了", "publish": "まとめて公開"}


@auth.login_required()
async def queue(request: web.Request) -> web.Response:
    user: User = request["user"]
    pq = await parse_filters(request, user)
    async with request.app[keys.DB].read() as conn:
        page = await queue_db.list_queue(conn, pq.filter, sort=pq.sort, after=pq.after, before=pq.before,
                                         limit=PER_PAGE)
        people = await users_db.active_in_section(conn, user.section) if user.section else await users_db.all_users(conn)
    base = {k: v for k, v in pq.form.items()}
    return await render(request, "admin/queue.html", {
        "user": user, "page": page, "f": pq.form, "today": today(),
        "next_url": "?" + urlencode({**base, "after": page.next_cursor}) if page.next_cursor else "",
        "prev_url": "?" + urlencode({**base, "before": page.prev_cursor}) if page.prev_cursor else "",
        "first_url": "?" + urlencode(base) if page.prev_cursor else "",
        "export_url": "/admin/export.csv?" + urlencode({k: v for k, v in base.items() if k != "sort"}),
        "bulk_ops": BULK_OPS, "people": [p for p in people if p.active], "flashes": await pop_flash(request),
    })


@auth.login_required()
async def bulk(request: web.Request) -> web.StreamResponse:
    """One action on many items. Each item is authorized and changed on its own (one event each),
    submitted together so the writer commits them in one group; refusals are reported, not hidden."""
    user: User = request["user"]
    form = await request.post()
    await check_csrf(request, form)
    back = str(form.get("back", ""))
    back = back if back.startswith("?") and len(back) < 2000 else ""
    receipts = list(dict.fromkeys(str(v) for v in form.getall("item", [])))
    op = str(form.get("op", ""))
    if op not in BULK_OPS:
        raise InvalidInput("一括操作の種類を選んでください。")
    if not receipts:
        await flash(request, "対象の項目を選んでください。", "error")
        raise web.HTTPSeeOther("/admin/" + back)
    if len(receipts) > MAX_BULK:
        raise InvalidInput(f"一度に操作できるのは{MAX_BULK}件までです。")
    wf = request.app[keys.WORKFLOW]
    if op == "publish":
        done, failed = await wf.publish_batch(receipts, user)
    else:
        if op == "route":
            section = str(form.get("section", ""))[:50]
            jobs = [wf.route(r, section, user, "一括変更") for r in receipts]
        elif op == "assign":
            assignee = str(form.get("assignee", ""))[:100]
            jobs = [wf.assign(r, assignee, user) for r in receipts]
        else:
            reason = str(form.get("reason", ""))
            jobs = [wf.close(r, reason if reason in CLOSE_REASONS else "", user, "一括終了") for r in receipts]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        done, failed = [], {}
        for r, res in zip(receipts, results, strict=True):
            if isinstance(res, DomainError):
                failed[r] = res.message
            elif isinstance(res, BaseException):
                raise res
            else:
                done.append(r)
        if op == "route" and done:
            learning.schedule_retrain(request.app)
    await flash(request, f"{BULK_OPS[op]}: {len(done)}件を処理しました。")
    if failed:
        detail = "、".join(f"{r}（{msg}）" for r, msg in list(failed.items())[:10])
        more = f" ほか{len(failed) - 10}件" if len(failed) > 10 else ""
        await flash(request, f"{len(failed)}件は処理できませんでした: {detail}{more}", "error")
    raise web.HTTPSeeOther("/admin/" + back)


@auth.login_required()
async def export_csv(request: web.Request) -> web.StreamResponse:
    """The filtered queue as CSV (UTF-8 with BOM for Excel), with the same section restriction."""
    user: User = request["user"]
    pq = await parse_filters(request, user)
    now = clock.jst_now()
    # Exports carry residents' personal data: who took which slice goes on the record before any
    # row leaves the building.
    filters = urlencode(pq.form)

    async def log_export(conn):  # type: ignore[no-untyped-def]
        await staff_db.audit(conn, at=clock.iso(now), actor=f"user:{user.name}", action="export_csv",
                             target="submissions", note=filters or "全件")

    await request.app[keys.DB].write(log_export)
    resp = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="meyasubako-{now:%Y%m%d-%H%M}.csv"',
        "Cache-Control": "no-store",
    })
    await resp.prepare(request)
    await resp.write("\ufeff".encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    async with request.app[keys.DB].read() as conn:
        async for sub in queue_db.iter_queue(conn, pq.filter):
            ans = await subs.answer_for(conn, sub.id)
            writer.writerow(record(sub, ans.body if ans else None))
            if buf.tell() > 64_000:
                await resp.write(buf.getvalue().encode("utf-8"))
                buf.seek(0)
                buf.truncate()
    await resp.write(buf.getvalue().encode("utf-8"))
    await resp.write_eof()
    return resp
