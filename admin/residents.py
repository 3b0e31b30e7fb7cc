"""A resident's request about their personal data (個人情報の開示・削除請求), for approvers and admins.

Everything goes by POST with a CSRF token: the search value (an e-mail address, a LINE user id)
never appears in a URL, so it never reaches access logs or browser history. Every disclosure and
erasure is written to the privacy ledger (privacy_log), and each erased item gets an ``erase`` event.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from typing import Any

from aiohttp import web

from admin import auth
from meyasubako import clock, keys, privacy
from meyasubako.domain import DomainError, InvalidInput, Role, User, actor_name, dumps
from meyasubako.web import check_csrf, render
from storage import retention as rdb

log = logging.getLogger("meyasubako.admin.residents")

KINDS = {"receipt": "受付番号", "contact": "連絡先（完全一致）", "line": "LINEユーザーID"}
MAX_QUERY = 200
MAX_REASON = 200
_RECEIPT = re.compile(r"^\d{4}-\d{6}$")
_LINE_ID = re.compile(r"^U[0-9a-f]{32}$")
officers = auth.login_required(roles=(Role.ADMIN, Role.APPROVER))


def _clean(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    value = unicodedata.normalize("NFC", value)
    return "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").strip()[: limit + 1]


def _query(form: Any) -> tuple[str, str]:
    kind = form.get("kind", "")
    q = _clean(form.get("q"), MAX_QUERY)
    if kind not in KINDS:
        raise InvalidInput("検索の種類を選んでください。")
    if not q:
        raise InvalidInput("検索する値を入力してください。")
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"検索する値は{MAX_QUERY}文字以内で入力してください。")
    if kind == "receipt" and not _RECEIPT.match(q):
        raise InvalidInput("受付番号は「2026-000123」の形式で入力してください。")
    if kind == "line" and not _LINE_ID.match(q):
        raise InvalidInput("LINEユーザーIDは「U」で始まる33文字の英数字です。")
    return kind, q


async def _lookup(request: web.Request, kind: str, q: str) -> dict[str, Any]:
    async with request.app[keys.DB].read() as conn:
        ids = await rdb.ids_for_resident(conn, kind, q)
        return await privacy.disclosure(conn, ids, q if kind == "line" else None)


async def _page(request: web.Request, ctx: dict[str, Any], status: int = 200) -> web.Response:
    async with request.app[keys.DB].read() as conn:
        ledger = await rdb.recent_log(conn)
    for entry in ledger:
        entry["detail"] = json.loads(entry.pop("detail_json") or "{}")
        kind, _, ref = entry["reason"].partition("：")
        entry["reason"] = privacy.REASONS.get(kind, kind) + (f"：{ref}" if ref else "")
        entry["actor"] = entry["actor"].removeprefix("user:") if entry["actor"] != "system" else "自動（保存期間）"
    base = {"user": request["user"], "kinds": KINDS, "kind": "receipt", "q": "", "found": None, "error": "",
            "ledger": ledger, "done": None}
    return await render(request, "admin/residents.html", {**base, **ctx}, status=status)


@officers
async def search_form(request: web.Request) -> web.Response:
    return await _page(request, {})


@officers
async def search(request: web.Request) -> web.Response:
    form = await request.post()
    await check_csrf(request, form)
    try:
        kind, q = _query(form)
    except InvalidInput as exc:
        return await _page(request, {"error": exc.message, "kind": form.get("kind", "receipt")}, 400)
    return await _page(request, {"kind": kind, "q": q, "found": await _lookup(request, kind, q)})


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"<binary {len(value)} bytes>"
    raise TypeError(type(value).__name__)


@officers
async def export(request: web.Request) -> web.StreamResponse:
    user: User = request["user"]
    form = await request.post()
    await check_csrf(request, form)
    kind, q = _query(form)
    found = await _lookup(request, kind, q)
    now = request.app[keys.WORKFLOW].now()
    receipts = [s["receipt_no"] for s in found["submissions"]]
    doc = {"title": "保有個人情報の開示", "generated_at": clock.iso(now), "search": KINDS[kind], **found}

    async def ledger(conn):  # type: ignore[no-untyped-def]
        await rdb.add_log(conn, at=clock.iso(now), actor=actor_name(user), action="disclose", reason="request",
                          receipts=receipts, detail_json=dumps({"kind": kind, "items": len(receipts)}))

    await request.app[keys.DB].write(ledger)
    log.info("event=disclose actor=%s kind=%s items=%d", user.name, kind, len(receipts))
    body = json.dumps(doc, ensure_ascii=False, indent=2, default=_jsonable)
    name = f"kaiji-{now.strftime('%Y%m%d-%H%M%S')}.json"
    return web.Response(text=body, content_type="application/json", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@officers
async def erase(request: web.Request) -> web.Response:
    """First POST shows what would be erased and asks for a reason; the second (confirm=1) erases."""
    user: User = request["user"]
    form = await request.post()
    await check_csrf(request, form)
    kind, q = _query(form)
    found = await _lookup(request, kind, q)
    ctx: dict[str, Any] = {"user": user, "kinds": KINDS, "kind": kind, "q": q, "found": found, "error": "",
                           "reason": _clean(form.get("reason"), MAX_REASON)}
    if form.get("confirm") != "1":
        return await render(request, "admin/residents_erase.html", ctx)
    try:
        reason = await _reason(request, form)
    except InvalidInput as exc:
        ctx["error"] = exc.message
        return await render(request, "admin/residents_erase.html", ctx, status=400)
    if not found["submissions"] and not found.get("line_user", {}).get("tables") \
            and not found.get("line_user", {}).get("messages"):
        return await _page(request, {"kind": kind, "q": q, "found": found, "error": "削除する情報はありません。"}, 404)
    settings = request.app[keys.SETTINGS]
    wf = request.app[keys.WORKFLOW]
    actor = actor_name(user)
    results: list[privacy.Erasure] = []
    try:
        for item in found["submissions"]:
            results.append(await wf.erase(item["receipt_no"], reason="request", actor=actor,
                                          files_dir=settings.files_dir, note=reason))
    except DomainError as exc:
        ctx["error"] = exc.message
        return await render(request, "admin/residents_erase.html", ctx, status=exc.http_status)
    line_rows: dict[str, int] = {}
    if kind == "line":
        async def forget(conn):  # type: ignore[no-untyped-def]
            return await privacy.forget_line_user_in_tx(conn, q, settings.files_dir)

        line_rows = await request.app[keys.DB].write(forget)
    now = clock.iso(wf.now())
    erased = [r for r in results if not r.already]
    detail = {"kind": kind, "items": len(erased), "files": sum(len(r.files) for r in erased),
              "line_rows": sum(n for t, n in line_rows.items() if t != "files")}

    async def ledger(conn):  # type: ignore[no-untyped-def]
        await rdb.add_log(conn, at=now, actor=actor, action="erase", reason=f"request：{reason}",
                          receipts=[r.receipt_no for r in results], detail_json=dumps(detail))

    await request.app[keys.DB].write(ledger)
    log.info("event=erase_request actor=%s kind=%s items=%d", user.name, kind, len(erased))
    return await _page(request, {"kind": kind, "q": "", "done": {"results": results, "detail": detail}})


async def _reason(request: web.Request, form: Any) -> str:
    if form.get("understood") != "1":
        raise InvalidInput("削除すると元に戻せないことを確認し、チェックを入れてください。")
    reason = _clean(form.get("reason"), MAX_REASON)
    if not reason:
        raise InvalidInput("削除の根拠（請求の受付番号・受付日など）を入力してください。")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"削除の根拠は{MAX_REASON}文字以内で入力してください。")
    found = await request.app[keys.NLP].find_pii(reason)
    if found:  # the ledger outlives the data: it must not hold the resident's name or address
        raise InvalidInput("削除の根拠に個人情報（氏名・連絡先など）を書かないでください。請求書の番号などで記録してください。")
    return reason


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/admin/residents", search_form)
    app.router.add_post("/admin/residents", search)
    app.router.add_post("/admin/residents/export", export)
    app.router.add_post("/admin/residents/erase", erase)

