"""The public side: web form (with similar answers before sending), private status page, health."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from aiohttp import web
from aiohttp_session import get_session

from handlers.related import related_items
from meyasubako import keys
from meyasubako.domain import Channel, DomainError, InvalidInput, NewSubmission, NotFound, RateLimited
from meyasubako.web import check_csrf, client_address, render
from meyasubako.workflow import MAX_TEXT, token_hash
from storage import submissions as subs

MAX_PLACE = 200
MAX_CONTACT = 200
SIMILAR_SHOWN = 5


def clean(value: object, *, multiline: bool = False) -> str:
    """Normalize a form field: str only, NFC, no control characters (newlines kept where allowed)."""
    if not isinstance(value, str):
        return ""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    keep = {"\n", "\t"} if multiline else set()
    return "".join(ch for ch in value if ch in keep or unicodedata.category(ch)[0] != "C").strip()


# -- web form ------------------------------------------------------------------------------------
async def submit_form(request: web.Request) -> web.Response:
    return await render(request, "submit.html", {"form": {}, "errors": {}, "form_id": secrets.token_urlsafe(16)})


async def submit_post(request: web.Request) -> web.StreamResponse:
    try:
        raw = await request.post()
    except UnicodeDecodeError as exc:
        raise InvalidInput("送信内容の文字コードを読み取れませんでした。") from exc
    await check_csrf(request, raw)
    form = {
        "text": clean(raw.get("text"), multiline=True),
        "place": clean(raw.get("place")),
        "contact": clean(raw.get("contact")),
        "consent": raw.get("consent") if raw.get("consent") in ("yes", "no") else "",
    }
    form_id = clean(raw.get("form_id"))[:64] or secrets.token_urlsafe(16)
    errors: dict[str, str] = {}
    if not form["text"]:
        errors["text"] = "ご意見・ご要望の内容を入力してください。"
    elif len(form["text"]) > MAX_TEXT:
        errors["text"] = f"内容は{MAX_TEXT}文字以内で入力してください（現在{len(form['text'])}文字）。"
    if len(form["place"]) > MAX_PLACE:
        errors["place"] = f"場所は{MAX_PLACE}文字以内で入力してください。"
    if len(form["contact"]) > MAX_CONTACT:
        errors["contact"] = f"連絡先は{MAX_CONTACT}文字以内で入力してください。"
    if not form["consent"]:
        errors["consent"] = "公開してよいかどうかを選んでください。"
    if errors:
        return await render(request, "submit.html", {"form": form, "errors": errors, "form_id": form_id}, status=400)
    step = raw.get("step")
    if step == "edit":  # back from the similar-answers page, with everything kept
        return await render(request, "submit.html", {"form": form, "errors": {}, "form_id": form_id})
    if step == "check" and raw.get("similar_seen") != "1":  # similar.js already listed them live
        # Before sending: answers to similar published items (the resident may find theirs already).
        # Only when there are some; otherwise the form is sent at once, with no extra page.
        terms = await request.app[keys.NLP].terms(form["text"])
        similar = await related_items(request.app, terms, k=SIMILAR_SHOWN)
        if similar:
            return await render(request, "submit_check.html",
                                {"form": form, "form_id": form_id, "similar": similar})

    limiter = request.app[keys.SUBMIT_LIMITER]
    addr = client_address(request)
    # A resubmitted form (double click, reload) is answered from the first one, not counted again.
    session = await get_session(request)
    done = session.get("done", {})
    if form_id not in done and not limiter.allow(f"ip:{addr}"):
        exc = RateLimited("短い時間に送信が続いたため、受付を一時的に止めています。1分ほど待ってから、もう一度送信してください。")
        resp = await render(
            request, "submit.html",
            {"form": form, "errors": {"form": exc.message}, "form_id": form_id}, status=429,
        )
        resp.headers["Retry-After"] = str(limiter.retry_after(f"ip:{addr}"))
        return resp
    new = NewSubmission(
        channel=Channel.WEB,
        text=form["text"],
        consent=form["consent"] == "yes",
        place=form["place"] or None,
        contact=form["contact"] or None,
        client_key=f"web:{hashlib.sha256((session.get('csrf', '') + form_id).encode()).hexdigest()[:32]}",
    )
    try:
        receipt = await request.app[keys.WORKFLOW].receive(new)
    except DomainError as exc:
        return await render(request, "submit.html", {"form": form, "errors": {"form": exc.message},
                                                     "form_id": form_id}, status=exc.http_status)
    if not receipt.duplicate:
        done = {k: v for k, v in list(done.items())[-4:]}  # keep the cookie small
        done[form_id] = [receipt.submission.receipt_no, receipt.status_token]
        session["done"] = done
    raise web.HTTPSeeOther(f"/submit/done?f={form_id}")


async def submit_done(request: web.Request) -> web.Response:
    session = await get_session(request)
    entry = session.get("done", {}).get(request.query.get("f", ""))
    if not entry:
        raise NotFound("受付完了の情報が見つかりません。受付番号は送信直後の画面でのみ表示されます。")
    receipt_no, token = entry
    status_url = f"{request.app[keys.SETTINGS].base_url}/status/{token}"
    return await render(request, "submitted.html", {"receipt_no": receipt_no, "status_url": status_url})


# -- the resident's private status page ---------------------------------------------------------------
async def status_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if not 16 <= len(token) <= 64:
        raise NotFound("このリンクは無効です。URLをご確認ください。")
    async with request.app[keys.DB].read() as conn:
        sub = await subs.by_token_hash(conn, token_hash(token))
        answer = await subs.answer_for(conn, sub.id) if sub else None
    if sub is None:
        raise NotFound("このリンクは無効です。URLをご確認ください。")
    visible_answer = answer if answer and answer.state == "approved" else None
    return await render(request, "status.html", {"sub": sub, "answer": visible_answer})




def setup_routes(app: web.Application) -> None:
    app.router.add_get("/submit", submit_form, name="submit")
    app.router.add_post("/submit", submit_post)
    app.router.add_get("/submit/done", submit_done)
    app.router.add_get("/status/{token}", status_page)
