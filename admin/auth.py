"""Staff authentication: argon2id password hashes, sessions that expire, login throttling."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from aiohttp_session import get_session, new_session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from meyasubako import keys
from meyasubako.domain import Forbidden, Role, User
from meyasubako.ratelimit import RateLimiter
from meyasubako.web import check_csrf, client_address, render
from storage import users as users_db

log = logging.getLogger("meyasubako.admin")

# argon2id (memory-hard). The library's defaults follow RFC 9106's second recommended profile.
HASHER = PasswordHasher()
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
MIN_PASSWORD = 10
# Verify a dummy hash for unknown users so that timing does not reveal which names exist.
_DUMMY_HASH = HASHER.hash("not-a-real-password-0000")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must be at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def current_user(request: web.Request) -> User | None:
    session = await get_session(request)
    uid = session.get("uid")
    if uid is None:
        return None
    max_age = request.app[keys.SETTINGS].session_max_age
    if time.time() - session.get("auth_at", 0) > max_age:
        session.invalidate()
        return None
    async with request.app[keys.DB].read() as conn:
        user = await users_db.by_id(conn, int(uid))
        epoch = await users_db.session_epoch(conn, int(uid)) if user else -1
    if user is None or not user.active or session.get("epoch") != epoch:
        session.invalidate()
        return None
    return user


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def login_required(*, roles: tuple[Role, ...] | None = None) -> Callable[[Handler], Handler]:
    def deco(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                raise web.HTTPSeeOther("/admin/login")
            if roles is not None and user.role not in roles:
                raise Forbidden("この画面を利用する権限がありません。")
            request["user"] = user
            return await handler(request)

        return wrapper

    return deco


async def login_form(request: web.Request) -> web.Response:
    return await render(request, "admin/login.html", {"error": "", "name": ""})


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await check_csrf(request, form)
    name = str(form.get("name", ""))[:100].strip()
    password = str(form.get("password", ""))[:1000]
    limiter = request.app[LOGIN_LIMITER]
    addr = client_address(request)
    if not (limiter.allow(f"addr:{addr}") and limiter.allow(f"user:{name}")):
        log.warning("event=login_throttled user=%s addr=%s", name, addr)
        return await render(
            request, "admin/login.html",
            {"error": "ログインの試行が多すぎます。しばらく待ってからお試しください。", "name": name}, status=429,
        )
    async with request.app[keys.DB].read() as conn:
        user = await users_db.by_name(conn, name) if name else None
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password) and user is not None and user.active
    if not ok:
        log.info("event=login_failed user=%s addr=%s", name, addr)
        return await render(
            request, "admin/login.html", {"error": "ユーザー名またはパスワードが正しくありません。", "name": name}, status=401
        )
    assert user is not None
    session = await new_session(request)  # a fresh session: no fixation of a pre-login cookie
    session["uid"] = user.id
    session["auth_at"] = time.time()
    async with request.app[keys.DB].read() as conn:
        session["epoch"] = await users_db.session_epoch(conn, user.id)
    now = request.app[keys.WORKFLOW].now().isoformat(timespec="seconds")

    async def touch(conn):  # type: ignore[no-untyped-def]
        await users_db.touch_login(conn, user.id, now)

    await request.app[keys.DB].write(touch)
    log.info("event=login user=%s role=%s", user.name, user.role)
    raise web.HTTPSeeOther("/admin/")


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await check_csrf(request, form)
    session = await get_session(request)
    uid = session.get("uid")
    session.invalidate()
    if uid is not None:
        # Logging out ends this user's sessions everywhere, copies of the cookie included.
        async def revoke(conn):  # type: ignore[no-untyped-def]
            await users_db.revoke_sessions(conn, int(uid))

        await request.app[keys.DB].write(revoke)
    raise web.HTTPSeeOther("/admin/login")
