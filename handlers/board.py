"""The notice board (「市民の声と回答」): search, filters, pages, and one item with related items.

Only published items appear, through :mod:`storage.public`, which selects public columns only.
Filters: keyword (Sudachi-normalized terms, so ゴミ finds ごみ), section, month of receipt, and
"status" — on a board where every item has its answer, the status a resident can filter on is
whether the answer came within the section's deadline (期限内) or after it (期限後).
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlencode

from aiohttp import web

from handlers import cache
from meyasubako import clock, keys
from meyasubako.domain import NotFound
from meyasubako.related import RELATED
from meyasubako.web import render
from storage import public as pub

PER_PAGE = 20
MAX_QUERY = 100
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
STATUSES = {"ontime": "期限内に回答", "late": "期限を過ぎて回答"}
RECEIPT_RE = r"\d{4}-\d{6}"


def clean_query(value: str) -> str:
    """A search box value: no control characters, collapsed spaces, at most MAX_QUERY characters."""
    value = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(value.split())[:MAX_QUERY]


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or len(raw) > 6:
        return 1
    return max(1, int(raw))


def month_param(value: str) -> str:
    m = MONTH_RE.match(value)
    return value if m and 2000 <= int(m[1]) <= 2100 else ""


def months_between(first: str | None, today: date) -> list[str]:
    """'YYYY-MM' from this month back to ``first`` (newest first; at most 20 years)."""
    if not first:
        return []
    y, m = today.year, today.month
    out: list[str] = []
    while len(out) < 240:
        cur = f"{y:04d}-{m:02d}"
        out.append(cur)
        if cur <= first:
            break
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def month_label(month: str) -> str:
    return f"{int(month[:4])}年{int(month[5:7])}月" if month else ""


async def board(request: web.Request) -> web.Response:
    app = request.app
    q = clean_query(request.query.get("q", ""))
    section = request.query.get("section", "")
    if section not in app[keys.SECTIONS]:
        section = ""
    month = month_param(request.query.get("month", ""))
    status = request.query.get("status", "")
    if status not in STATUSES:
        status = ""
    page = page_number(request)
    terms = await app[keys.NLP].terms(q) if q else None
    f = pub.PublicFilter(section=section or None, terms=terms, received_month=month or None,
                         timeliness=status or None)
    async with app[keys.DB].read() as conn:
        first = await pub.first_received_month(conn)
        # Pages past the count cap are not offered; asking for one shows the last page offered.
        pages_cap = -(-pub.COUNT_CAP // PER_PAGE)
        page = min(page, pages_cap)
        items, total = await pub.search(conn, f, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    capped = total > pub.COUNT_CAP
    pages = max(1, -(-min(total, pub.COUNT_CAP) // PER_PAGE))
    params = {k: v for k, v in (("q", q), ("section", section), ("month", month), ("status", status)) if v}

    def page_url(n: int) -> str:
        return "/?" + urlencode({**params, **({"page": n} if n > 1 else {})}) if params or n > 1 else "/"

    window = [n for n in range(max(1, page - 2), min(pages, page + 2) + 1)]
    return await render(request, "board.html", {
        "items": items, "total": total, "capped": capped, "count_cap": pub.COUNT_CAP, "page": page, "pages": pages, "window": window,
        "page_url": page_url, "q": q, "section": section, "month": month, "status": status,
        "months": months_between(first, clock.jst_now().date()), "month_label": month_label,
        "statuses": STATUSES, "filtered": bool(params),
        "feed_url": f"/sections/{section}/feed.atom" if section else "/feed.atom",
    })


async def voice(request: web.Request) -> web.Response:
    receipt_no = request.match_info["receipt_no"]
    async with request.app[keys.DB].read() as conn:
        item = await pub.get(conn, receipt_no)
        if item is None:
            raise NotFound("該当する公開済みの投書は見つかりませんでした。")
        related = await pub.related_of(conn, item.id)
    if related is None:  # its list is not computed yet (meyasubako/related.py): ask for it, and
        request.app[RELATED].want([item.id])  # do not keep this page, which says it is coming
        cache.do_not_store(request)
    return await render(request, "voice.html", {"item": item, "related": related or [],
                                                "related_pending": related is None})


def setup_routes(app: web.Application) -> None:
    # The same for every reader, so served from the public page cache (handlers/cache.py).
    cache.setup(app)
    app.router.add_get("/", cache.cached(board), name="board")
    app.router.add_get(r"/voices/{receipt_no:" + RECEIPT_RE + "}", cache.cached(voice), name="voice")

