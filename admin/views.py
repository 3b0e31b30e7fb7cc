"""Staff site: the queue, one item, and the actions on it (route, answer, publish, close)."""

from __future__ import annotations

from aiohttp import web

from admin import auth
from meyasubako import keys
from meyasubako.domain import CLOSE_REASONS, DomainError, NotFound, Role, Status, User
from meyasubako.web import check_csrf, render
from meyasubako.workflow import Workflow
from storage import submissions as subs

PER_PAGE = 50


def visible_sections(user: User) -> list[str] | None:
    """None = every section (approvers, admins); otherwise the staff member's own section."""
    if user.role in (Role.ADMIN, Role.APPROVER):
        return None
    return [user.section] if user.section else []


@auth.login_required()
async def queue(request: web.Request) -> web.Response:
    user: User = request["user"]
    status = request.query.get("status", "")
    if status not in {s.value for s in Status}:
        status = ""
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    q = request.query.get("q", "").strip()[:100]
    terms = await request.app[keys.NLP].terms(q) if q else None
    async with request.app[keys.DB].read() as conn:
        items, total = await subs.list_for_staff(
            conn, sections=visible_sections(user), status=status or None, terms=terms,
            limit=PER_PAGE, offset=(page - 1) * PER_PAGE,
        )
    return await render(request, "admin/queue.html", {
        "user": user, "items": items, "total": total, "status": status, "q": q, "page": page,
        "pages": max(1, -(-total // PER_PAGE)),
    })


async def _item_context(request: web.Request, user: User, receipt_no: str) -> dict:
    async with request.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
        if sub is None or not user.can_see_section(sub.section):
            raise NotFound("該当する受付番号が見つかりません。")
        answer = await subs.answer_for(conn, sub.id)
        events = await subs.events_for(conn, sub.id)
    return {"user": user, "sub": sub, "answer": answer, "events": events, "errors": {}, "form": {}}


@auth.login_required()
async def item(request: web.Request) -> web.Response:
    user: User = request["user"]
    ctx = await _item_context(request, user, request.match_info["receipt_no"])
    return await render(request, "admin/item.html", ctx)


@auth.login_required()
async def item_action(request: web.Request) -> web.StreamResponse:
    user: User = request["user"]
    receipt_no = request.match_info["receipt_no"]
    action = request.match_info["action"]
    form = await request.post()
    await check_csrf(request, form)
    wf: Workflow = request.app[keys.WORKFLOW]
    try:
        if action == "route":
            await wf.route(receipt_no, str(form.get("section", "")), user, str(form.get("note", ""))[:500])
        elif action == "answer":
            await wf.save_answer(receipt_no, str(form.get("body", "")), user)
        elif action == "publish":
            await wf.publish(receipt_no, str(form.get("summary", "")), user,
                             pii_confirmed=form.get("pii_confirmed") == "1")
        elif action == "close":
            reason = str(form.get("reason", ""))
            await wf.close(receipt_no, reason if reason in CLOSE_REASONS else "", user, str(form.get("note", ""))[:500])
        else:
            raise web.HTTPNotFound()
    except (NotFound, web.HTTPException):
        raise
    except DomainError as exc:
        ctx = await _item_context(request, user, receipt_no)
        ctx["errors"] = {action: exc.message}
        ctx["form"] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
        return await render(request, "admin/item.html", ctx, status=exc.http_status)
    raise web.HTTPSeeOther(f"/admin/items/{receipt_no}")


def setup_routes(app: web.Application) -> None:
    limiter_rate = 10  # login attempts per minute per address and per account
    app[auth.LOGIN_LIMITER] = auth.RateLimiter(limiter_rate)
    app.router.add_get("/admin/login", auth.login_form)
    app.router.add_post("/admin/login", auth.login_post)
    app.router.add_post("/admin/logout", auth.logout)
    app.router.add_get("/admin/", queue)
    app.router.add_get(r"/admin/items/{receipt_no:\d{4}-\d{6}}", item)
    app.router.add_post(r"/admin/items/{receipt_no:\d{4}-\d{6}}/{action:[a-z_]+}", item_action)
