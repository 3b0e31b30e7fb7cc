"""One item: everything staff need to decide (text with PII marked, suggestion, similar items,
history, notes) and every action on it, each a plain POST form that works without JavaScript."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin import auth, learning
from admin.common import flash, int_or, pop_flash, segments, today
from meyasubako import keys
from meyasubako.domain import CLOSE_REASONS, DomainError, InvalidInput, NotFound, User
from meyasubako.staff_actions import fill_template
from meyasubako.web import check_csrf, render
from meyasubako.workflow import Workflow
from storage import attachments as att_db
from storage import queue as queue_db
from storage import staff as staff_db
from storage import submissions as subs
from storage import users as users_db

ANSWER_STATES = {"draft": "下書き", "submitted": "決裁待ち", "approved": "決裁済み", "rejected": "差し戻し"}
ACTION_LABELS = {
    "receive": "受付", "auto_route": "自動振り分け", "route": "担当課を設定", "reroute": "担当課を変更",
    "draft": "回答の下書き", "use_template": "テンプレートから下書き", "answer": "決裁に回す", "approve": "決裁",
    "reject": "差し戻し", "publish": "公開", "unpublish": "公開取消", "close": "対応終了",
    "close_reply": "回答して対応終了", "assign": "担当者", "note": "内部メモ",
}
MESSAGES = {
    "route": "担当課を設定しました。", "accept": "提案どおりの担当課に設定しました。", "assign": "担当者を設定しました。",
    "note": "内部メモを追加しました。", "duplicate": "重複として対応を終了しました。", "close": "対応を終了しました。",
    "draft": "下書きを保存しました。", "template": "テンプレートから下書きを作成しました。",
    "answer": "回答を決裁に回しました。", "approve": "決裁しました。", "reject": "回答を差し戻しました。",
    "publish": "公開しました。", "unpublish": "公開を取り消しました。",
}


async def load_visible(request: web.Request, user: User, receipt_no: str):  # type: ignore[no-untyped-def]
    async with request.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    if sub is None or not user.can_see_section(sub.section):
        raise NotFound("該当する受付番号が見つかりません。")  # same answer for "other section" and "absent"
    return sub


async def item_context(request: web.Request, user: User, receipt_no: str) -> dict[str, Any]:
    sub = await load_visible(request, user, receipt_no)
    nlp = request.app[keys.NLP]
    terms = await nlp.terms(sub.text)
    similar_hits = await nlp.similar_to("staff", terms, k=8, exclude=sub.receipt_no)
    async with request.app[keys.DB].read() as conn:
        answer = await subs.answer_for(conn, sub.id)
        events = await subs.events_for(conn, sub.id)
        notes = await staff_db.notes_for(conn, sub.id)
        photos = await att_db.for_submission(conn, sub.id)
        templates = await staff_db.templates_for(conn, sub.section) if sub.section else []
        assignable = await users_db.active_in_section(conn, sub.section) if sub.section else []
        found = {s.receipt_no: s for s in await queue_db.by_receipts(conn, [r for r, _ in similar_hits])}
        scores = dict(similar_hits)
        # Only items this user may read: similar items never leak another section's text.
        similar = [found[r] for r, _ in similar_hits if r in found and user.can_see_section(found[r].section)][:5]
        sim_answers = await queue_db.answers_for(conn, [s.id for s in similar])
    return {
        "user": user, "sub": sub, "answer": answer, "events": events, "notes": notes, "templates": templates,
        "assignable": assignable, "photos": photos, "similar": similar, "sim_scores": scores, "sim_answers": sim_answers,
        "original_segments": segments(sub.text, sub.pii), "answer_states": ANSWER_STATES,
        "action_labels": ACTION_LABELS, "overdue": bool(sub.is_open and sub.due_at and sub.due_at < today()),
        "errors": {}, "form": {}, "flashes": await pop_flash(request),
    }


@auth.login_required()
async def item(request: web.Request) -> web.Response:
    ctx = await item_context(request, request["user"], request.match_info["receipt_no"])
    return await render(request, "admin/item.html", ctx)


async def _act(request: web.Request, wf: Workflow, user: User, receipt_no: str, action: str, form: Any) -> None:
    def text(name: str, limit: int = 8000) -> str:
        return str(form.get(name, ""))[:limit]

    if action == "route":
        await wf.route(receipt_no, text("section", 50), user, text("note", 500))
        learning.schedule_retrain(request.app)
    elif action == "accept":
        sub = await load_visible(request, user, receipt_no)
        await wf.route(receipt_no, sub.suggested_section or "", user, "提案を採用")
        learning.schedule_retrain(request.app)
    elif action == "assign":
        await wf.assign(receipt_no, text("assignee", 100), user)
    elif action == "note":
        await wf.add_note(receipt_no, text("body", 4000), user)
    elif action == "duplicate":
        await wf.mark_duplicate(receipt_no, text("original", 20), user)
    elif action == "close":
        reason = text("reason", 20)
        await wf.close(receipt_no, reason if reason in CLOSE_REASONS else "", user, text("note", 500),
                       reply=form.get("reply") == "1")
    elif action == "draft":
        await wf.save_draft(receipt_no, text("body", 9000), user)
    elif action == "template":
        sub = await load_visible(request, user, receipt_no)
        async with request.app[keys.DB].read() as conn:
            tpl = await staff_db.template_by_id(conn, int_or(form.get("template_id", ""), 0))
        if tpl is None or tpl.section != sub.section:
            raise InvalidInput("テンプレートを選んでください。")
        sec = request.app[keys.SECTIONS].get(sub.section)
        body = fill_template(tpl, sub, sec.name if sec else "", sec.unit if sec else "")
        await wf.save_draft(receipt_no, body, user, template=tpl)
    elif action == "answer":
        await wf.save_answer(receipt_no, text("body", 9000), user)
    elif action == "approve":
        await wf.approve(receipt_no, user)
    elif action == "reject":
        await wf.reject(receipt_no, text("comment", 3000), user)
    elif action == "publish":
        await wf.publish(receipt_no, text("summary", 5000), user, pii_confirmed=form.get("pii_confirmed") == "1")
    elif action == "unpublish":
        await wf.unpublish(receipt_no, text("reason", 3000), user)
    else:
        raise web.HTTPNotFound()


@auth.login_required()
async def item_action(request: web.Request) -> web.StreamResponse:
    user: User = request["user"]
    receipt_no = request.match_info["receipt_no"]
    action = request.match_info["action"]
    form = await request.post()
    await check_csrf(request, form)
    if action not in MESSAGES:
        raise web.HTTPNotFound()
    try:
        await _act(request, request.app[keys.WORKFLOW], user, receipt_no, action, form)
    except (NotFound, web.HTTPException):
        raise
    except DomainError as exc:
        ctx = await item_context(request, user, receipt_no)
        ctx["errors"] = {action: exc.message}
        ctx["form"] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
        return await render(request, "admin/item.html", ctx, status=exc.http_status)
    await flash(request, MESSAGES[action])
    try:
        await load_visible(request, user, receipt_no)
    except NotFound:  # e.g. staff sent the item on to 広聴: it has left their queue
        raise web.HTTPSeeOther("/admin/") from None
    raise web.HTTPSeeOther(f"/admin/items/{receipt_no}")
