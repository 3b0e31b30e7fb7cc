"""Similar published answers while a resident types (progressive enhancement of the form).

``static/similar.js`` posts the draft text here (same origin, with the form's CSRF token) and lists
the answers under the text box. Without JavaScript the form shows the same list on a second page
before sending (handlers.public). Only published items' public fields are returned. Nothing is
stored and the draft is never logged (it travels in the body, not the URL).
"""

from __future__ import annotations

import json

from aiohttp import web

from handlers.public import SIMILAR_SHOWN, clean
from handlers.related import related_items
from meyasubako import keys
from meyasubako.domain import InvalidInput, RateLimited
from meyasubako.ratelimit import RateLimiter
from meyasubako.web import check_csrf, client_address
from meyasubako.workflow import MAX_TEXT

LOOKUPS_PER_MINUTE = 60  # a debounced typist needs a few; BM25 at 100k items costs up to ~0.1 s each
SIMILAR_LIMITER = web.AppKey("similar_limiter", RateLimiter)


async def similar_json(request: web.Request) -> web.Response:
    try:
        raw = await request.post()
    except UnicodeDecodeError as exc:
        raise InvalidInput("送信内容の文字コードを読み取れませんでした。") from exc
    await check_csrf(request, raw)
    text = clean(raw.get("text"), multiline=True)
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"内容は{MAX_TEXT}文字以内で入力してください。")
    limiter = request.app[SIMILAR_LIMITER]
    addr = client_address(request)
    if not limiter.allow(f"ip:{addr}"):
        exc = RateLimited("しばらく待ってからお試しください。")
        exc.headers = {"Retry-After": str(limiter.retry_after(f"ip:{addr}"))}  # type: ignore[attr-defined]
        raise exc
    terms = await request.app[keys.NLP].terms(text) if text else []
    found = await related_items(request.app, terms, k=SIMILAR_SHOWN)
    items = [{
        "receipt_no": i.receipt_no,
        "url": f"/voices/{i.receipt_no}",
        "summary": i.summary,
        "section_name": i.section_name or "",
        "published_date": i.published_at[:10],
        "answer": i.answer if len(i.answer) <= 200 else i.answer[:199] + "…",
    } for i, _ in found]
    return web.json_response({"items": items}, headers={"Cache-Control": "no-store"},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def setup_routes(app: web.Application) -> None:
    off = app[keys.SETTINGS].rate_limit == 0  # load tests turn every limit off
    app[SIMILAR_LIMITER] = RateLimiter(0 if off else LOOKUPS_PER_MINUTE)
    app.router.add_post("/submit/similar.json", similar_json)
