"""Shared web plumbing: templates, CSRF, security headers, error pages, request logs, client address."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp_session import get_session

from meyasubako import keys
from meyasubako.domain import CHANNEL_LABELS, CLOSE_REASONS, ROLE_LABELS, STATUS_LABELS, DomainError
from storage.errors import StorageUnavailable

log = logging.getLogger("meyasubako.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [ROOT / "handlers" / "templates", ROOT / "admin" / "templates", ROOT / "bot" / "templates"]
STATIC_DIR = ROOT / "handlers" / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _date(value: str | None) -> str:
    """'2026-11-30T09:15:00+09:00' -> '2026年11月30日'."""
    if not value:
        return ""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value)
    return f"{int(m[1])}年{int(m[2])}月{int(m[3])}日" if m else value


def _datetime(value: str | None) -> str:
    if not value:
        return ""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})", value)
    return f"{int(m[1])}年{int(m[2])}月{int(m[3])}日 {m[4]}:{m[5]}" if m else value


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in TEMPLATE_DIRS if d.exists()]),
        autoescape=True,  # every template escapes by default, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code and change only with a restart; checking each file's mtime
        # on every render was ~13% of an uncached item page (py-spy, bench_reads first views).
        auto_reload=False,
    )
    env.filters["jdate"] = _date
    env.filters["jdatetime"] = _datetime
    env.globals.update(
        STATUS_LABELS=STATUS_LABELS, CLOSE_REASONS=CLOSE_REASONS, CHANNEL_LABELS=CHANNEL_LABELS, ROLE_LABELS=ROLE_LABELS
    )
    return env


async def render(request: web.Request, name: str, ctx: dict[str, Any] | None = None, *, status: int = 200) -> web.Response:
    env = request.app[keys.TEMPLATES]
    session = await get_session(request)
    context = {
        "request": request,
        "csrf_token": _LazyToken(session),
        "sections": request.app[keys.SECTIONS],
        **(ctx or {}),
    }
    html = env.get_template(name).render(context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


# -- CSRF: a synchronizer token kept in the (encrypted) session cookie ---------------------------
class _LazyToken:
    """Creates the CSRF token only when a template prints it, so pages without forms set no cookie."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def __str__(self) -> str:
        return csrf_token_of(self._session)

    def __html__(self) -> str:
        return str(self)


def csrf_token_of(session: Any) -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: web.Request, form: Any) -> None:
    session = await get_session(request)
    sent = form.get("csrf_token", "")
    have = session.get("csrf")
    if not have or not isinstance(sent, str) or not secrets.compare_digest(sent, have):
        raise CsrfError("ページの有効期限が切れたか、不正な送信です。お手数ですが、もう一度ページを開いてから送信してください。")


class CsrfError(DomainError):
    http_status = 403


# -- client address ---------------------------------------------------------------------------------
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: tuple[Any, ...]) -> bool:
    return any(addr.version == n.version and addr in n for n in nets)


def client_address(request: web.Request) -> str:
    """The client's address for rate limits and logs.

    X-Forwarded-For is believed only when the TCP peer is a configured trusted proxy
    (MEYASUBAKO_TRUSTED_PROXIES); then the rightmost hop that is not itself a trusted proxy is the
    client. Hops further left were written by the client and can be anything, so they are never read.
    """
    peer = request.remote or "unknown"
    nets = request.app[keys.SETTINGS].trusted_proxies
    peer_ip = _ip(peer) if nets else None
    if peer_ip is None or not _trusted(peer_ip, nets):
        return peer
    hops = [h for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:  # a garbled hop: our own proxy did not write it, so stop believing the header
            break
        if not _trusted(ip, nets):
            return str(ip)
        peer = str(ip)
    return peer


# -- middlewares ----------------------------------------------------------------------------------
@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _add_headers(response)
        raise
    _add_headers(response)
    return response


async def security_headers_on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """The same headers on streamed responses (CSV/JSON exports), which the handler prepares, and so
    sends, before the middleware above ever sees them."""
    _add_headers(response)


def _add_headers(response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "no-referrer")  # status links carry a private token
    h.setdefault("Permissions-Policy", "geolocation=(self), camera=(), microphone=()")
    if response.content_type == "text/html":
        h.setdefault("Cache-Control", "no-store")


_REDACT = re.compile(r"^/status/[^/]+")


@web.middleware
async def request_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        path = _REDACT.sub("/status/<token>", request.path)
        log.info(
            "event=request method=%s path=%s status=%d ms=%.1f", request.method, path, status,
            (time.perf_counter() - start) * 1000,
        )
        counter = request.app.get(keys.REQUESTS)  # by status class, for /metrics
        if counter is not None:
            counter[f"{status // 100}xx"] += 1


ERROR_TITLES = {
    400: "入力内容を確認してください",
    403: "この操作はできません",
    404: "ページが見つかりません",
    405: "この方法ではアクセスできません",
    409: "この操作は現在の状態ではできません",
    413: "送信された内容が大きすぎます",
    429: "送信が多すぎます",
    500: "システムエラーが発生しました",
    503: "ただいま受付を一時停止しています",
}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/open311/", "/api/")) or request.path.endswith(".json")


async def error_page(request: web.Request, status: int, message: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    if _wants_json(request):
        return web.json_response([{"code": status, "description": message}], status=status, headers=headers)
    try:
        resp = await render(request, "error.html", {"status": status, "title": ERROR_TITLES.get(status, "エラー"),
                                                    "message": message}, status=status)
    except Exception:  # rendering must never hide the original error
        log.exception("event=error_page_failed")
        resp = web.Response(text=message, status=status, content_type="text/plain", charset="utf-8")
    if headers:
        resp.headers.update(headers)
    return resp


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors -> HTTP errors, in one place, with a Japanese page for people."""
    try:
        return await handler(request)
    except DomainError as exc:
        headers = getattr(exc, "headers", None)
        return await error_page(request, exc.http_status, exc.message, headers)
    except StorageUnavailable:
        log.error("event=storage_unavailable path=%s", request.path)
        return await error_page(
            request, 503,
            "システムの保存領域に問題が発生したため、ただいま受け付けできません。内容は保存されていません。"
            "時間をおいてもう一度お試しください。",
            {"Retry-After": "60"},
        )
    except web.HTTPException as exc:
        if exc.status in (404, 405, 413) and exc.status in ERROR_TITLES:
            msgs = {
                404: "お探しのページは見つかりませんでした。URLをご確認ください。",
                405: "このページはこの方法では利用できません。",
                413: "送信された内容が大きすぎます。本文や添付を小さくしてください。",
            }
            return await error_page(request, exc.status, msgs[exc.status])
        raise
    except Exception:
        log.exception("event=unhandled path=%s", request.path)
        return await error_page(request, 500, "申し訳ありません。システムエラーが発生しました。時間をおいてお試しください。")
