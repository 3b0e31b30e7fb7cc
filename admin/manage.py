"""Admin pages (role admin only): users (create, disable, reset password), sections (name, unit,
deadline), answer templates per section, and the admin audit trail."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from admin import auth
from admin.common import flash, int_or, pop_flash
from meyasubako import clock, keys
from meyasubako.domain import ROLE_LABELS, InvalidInput, NotFound, Role, User
from meyasubako.web import check_csrf, render
from storage import sections as sections_db
from storage import staff as staff_db
from storage import users as users_db
from storage.errors import Conflict

NAME_RE = re.compile(r"^[\w.\-]{2,50}$")
admin_only = auth.login_required(roles=(Role.ADMIN,))


def _now(request: web.Request) -> str:
    return clock.iso(request.app[keys.WORKFLOW].now())


async def _write(request: web.Request, fn: Any) -> Any:
    return await request.app[keys.DB].write(fn)


# -- users --------------------------------------------------------------------------------------------
@admin_only
async def users_page(request: web.Request) -> web.Response:
    return await _users_page(request)


async def _users_page(request: web.Request, *, errors: dict[str, str] | None = None,
                     form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    async with request.app[keys.DB].read() as conn:
        users = await users_db.all_users(conn)
    return await render(request, "admin/users.html", {
        "user": request["user"], "users": users, "errors": errors or {}, "form": form or {},
        "roles": ROLE_LABELS, "flashes": await pop_flash(request),
    }, status=status)


def _password(form: Any) -> tuple[str, bool]:
    """The typed password, or a generated one (shown once) when left empty."""
    typed = str(form.get("password", ""))[:1000]
    if typed:
        if len(typed) < auth.MIN_PASSWORD:
            raise InvalidInput(f"パスワードは{auth.MIN_PASSWORD}文字以上にしてください。")
        return typed, False
    return secrets.token_urlsafe(12), True


@admin_only
async def user_create(request: web.Request) -> web.StreamResponse:
    me: User = request["user"]
    form = await request.post()
    await check_csrf(request, form)
    name = str(form.get("name", "")).strip()[:100]
    role = str(form.get("role", ""))
    section = str(form.get("section", "")) or None
    keep = {"name": name, "role": role, "section": section or ""}
    try:
        if not NAME_RE.match(name):
            raise InvalidInput("ユーザー名は2〜50文字の英数字・記号（. _ -）で入力してください。")
        if role not in {r.value for r in Role}:
            raise InvalidInput("役割を選んでください。")
        if section is not None and section not in request.app[keys.SECTIONS]:
            raise InvalidInput("所属課の指定が正しくありません。")
        if role == Role.STAFF and section is None:
            raise InvalidInput("担当課職員には所属課が必要です。")
        password, generated = _password(form)
        pw_hash = auth.hash_password(password)
        now = _now(request)

        async def job(conn):  # type: ignore[no-untyped-def]
            await users_db.add(conn, name=name, password_hash=pw_hash, role=role,
                               section=section if role == Role.STAFF else None, now=now)
            await staff_db.audit(conn, at=now, actor=f"user:{me.name}", action="user_create", target=name,
                                 note=f"{role} {section or ''}".strip())

        await _write(request, job)
    except InvalidInput as exc:
        return await _users_page(request, errors={"create": exc.message}, form=keep, status=400)
    except Conflict:
        return await _users_page(request, errors={"create": "同じユーザー名がすでにあります。"}, form=keep, status=409)
    await flash(request, f"ユーザー「{name}」を作成しました。"
                + (f" 初期パスワード: {password} （この画面でのみ表示します）" if generated else ""))
    raise web.HTTPSeeOther("/admin/users")


@admin_only
async def user_action(request: web.Request) -> web.StreamResponse:
    me: User = request["user"]
    form = await request.post()
    await check_csrf(request, form)
    action = request.match_info["action"]
    uid = int(request.match_info["user_id"])
    async with request.app[keys.DB].read() as conn:
        target = await users_db.by_id(conn, uid)
    if target is None:
        raise NotFound("該当するユーザーが見つかりません。")
    now = _now(request)
    actor = f"user:{me.name}"
    message = ""
    if action in ("disable", "enable"):
        if target.id == me.id:
            raise InvalidInput("自分自身を無効にすることはできません。")

        async def toggle(conn):  # type: ignore[no-untyped-def]
            await users_db.set_active(conn, uid, action == "enable")
            await staff_db.audit(conn, at=now, actor=actor, action=f"user_{action}", target=target.name)

        await _write(request, toggle)
        message = f"ユーザー「{target.name}」を{'有効' if action == 'enable' else '無効'}にしました。"
    elif action == "reset":
        password, generated = _password(form)
        pw_hash = auth.hash_password(password)

        async def reset(conn):  # type: ignore[no-untyped-def]
            await users_db.set_password_hash(conn, uid, pw_hash)
            await staff_db.audit(conn, at=now, actor=actor, action="user_reset_password", target=target.name)

        await _write(request, reset)
        message = f"ユーザー「{target.name}」のパスワードを再設定しました。" + (
            f" 新しいパスワード: {password} （この画面でのみ表示します）" if generated else "")
    else:
        raise web.HTTPNotFound()
    await flash(request, message)
    raise web.HTTPSeeOther("/admin/users")


# -- sections and templates ---------------------------------------------------------------------------
@admin_only
async def sections_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].read() as conn:
        secs = await sections_db.all_sections(conn)
    return await render(request, "admin/sections.html", {"user": request["user"], "all_sections": secs,
                                                         "flashes": await pop_flash(request)})


async def _section_or_404(request: web.Request) -> Any:
    sid = request.match_info["section_id"]
    async with request.app[keys.DB].read() as conn:
        secs = {s.id: s for s in await sections_db.all_sections(conn)}
    if sid not in secs:
        raise NotFound("該当する担当課が見つかりません。")
    return secs[sid]


@admin_only
async def section_page(request: web.Request) -> web.Response:
    return await _section_page(request)


async def _section_page(request: web.Request, *, errors: dict[str, str] | None = None,
                       form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    sec = await _section_or_404(request)
    async with request.app[keys.DB].read() as conn:
        templates = await staff_db.templates_for(conn, sec.id)
    return await render(request, "admin/section.html", {
        "user": request["user"], "sec": sec, "templates": templates, "errors": errors or {}, "form": form or {},
        "flashes": await pop_flash(request),
    }, status=status)


@admin_only
async def section_save(request: web.Request) -> web.StreamResponse:
    me: User = request["user"]
    sec = await _section_or_404(request)
    form = await request.post()
    await check_csrf(request, form)
    name = str(form.get("name", "")).strip()[:200]
    unit = str(form.get("unit", "")).strip()[:200]
    days = int_or(form.get("deadline_days", ""), 0)
    active = form.get("active") == "1"
    if not name or len(name) > 100 or len(unit) > 100 or not 1 <= days <= 365:
        return await _section_page(request, errors={"section": "課名（100文字以内）と回答期限（1〜365営業日）を正しく入力してください。"},
                                  status=400)
    now = _now(request)

    async def job(conn):  # type: ignore[no-untyped-def]
        await sections_db.update(conn, sec.id, name=name, unit=unit, deadline_days=days, active=active)
        await staff_db.audit(conn, at=now, actor=f"user:{me.name}", action="section_update", target=sec.id,
                             note=f"{name} / {unit} / {days}営業日 / {'有効' if active else '無効'}")

    await _write(request, job)
    from meyasubako.app import reload_sections  # late: meyasubako.app imports the admin package

    await reload_sections(request.app)
    await flash(request, "担当課の設定を保存しました。")
    raise web.HTTPSeeOther(f"/admin/sections/{sec.id}")


@admin_only
async def template_save(request: web.Request) -> web.StreamResponse:
    me: User = request["user"]
    sec = await _section_or_404(request)
    form = await request.post()
    await check_csrf(request, form)
    tid_raw = str(form.get("template_id", ""))
    tid = int_or(tid_raw, 0) or None
    title = str(form.get("title", "")).strip()[:200]
    body = str(form.get("body", "")).strip()[:9000]
    delete = form.get("delete") == "1"
    now = _now(request)
    actor = f"user:{me.name}"
    if delete and tid:
        async def remove(conn):  # type: ignore[no-untyped-def]
            if await staff_db.delete_template(conn, tid, sec.id):
                await staff_db.audit(conn, at=now, actor=actor, action="template_delete", target=f"{sec.id}/{tid}")

        await _write(request, remove)
        await flash(request, "テンプレートを削除しました。")
        raise web.HTTPSeeOther(f"/admin/sections/{sec.id}")
    if not title or len(title) > 100 or not body or len(body) > 8000:
        return await _section_page(request, errors={"template": "題名（100文字以内）と本文（8000文字以内）を入力してください。"},
                                  form={"title": title, "body": body}, status=400)

    async def save(conn):  # type: ignore[no-untyped-def]
        new_id = await staff_db.save_template(conn, template_id=tid, section=sec.id, title=title, body=body, now=now)
        await staff_db.audit(conn, at=now, actor=actor, action="template_save", target=f"{sec.id}/{new_id}", note=title)

    try:
        await _write(request, save)
    except Conflict:
        return await _section_page(request, errors={"template": "同じ題名のテンプレートがすでにあります。"},
                                  form={"title": title, "body": body}, status=409)
    await flash(request, f"テンプレート「{title}」を保存しました。")
    raise web.HTTPSeeOther(f"/admin/sections/{sec.id}")


@admin_only
async def audit_page(request: web.Request) -> web.Response:
    async with request.app[keys.DB].read() as conn:
        entries = await staff_db.recent_audit(conn, 200)
    return await render(request, "admin/audit.html", {"user": request["user"], "entries": entries})
