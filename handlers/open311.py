"""Open311 GeoReport v2 under ``/open311/v2/`` (JSON).

- ``services.json``: one service per active section (``service_code`` = section id, type ``batch``:
  an item becomes visible only once staff have answered and published it).
- ``requests.json`` (GET) and ``requests/{id}.json``: PUBLISHED items only, public fields only.
  A published item has its answer, so its ``status`` is ``closed`` and ``status_notes`` is the
  official answer; ``description`` is the approved, masked 要旨, never the original text.
  Unpublished requests do not appear at all (``requests/{id}.json`` answers 404 exactly as for an
  unknown id), so the API cannot be used to probe for them; counts are on ``/stats``.
  ``lat``, ``long``, ``address`` are always null: places are not reviewed for personal data.
- ``requests.json`` (POST): a new submission through the same workflow as the web form.
Errors use the spec's format ``[{"code": 400, "description": "..."}]`` (meyasubako.web middleware).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from handlers.public import MAX_CONTACT, MAX_PLACE, clean
from meyasubako import clock, keys
from meyasubako.domain import Channel, InvalidInput, NewSubmission, NotFound, RateLimited
from meyasubako.web import client_address
from meyasubako.workflow import MAX_TEXT
from storage import public as pub
from storage import submissions as subs

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_IDS = 100
MAX_SPAN = timedelta(days=90)  # the spec: a start_date..end_date range may not span more than 90 days
RECEIPT = re.compile(r"^\d{4}-\d{6}$")
REQUEST_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


# -- services --------------------------------------------------------------------------------------
async def services(request: web.Request) -> web.Response:
    out = []
    for s in request.app[keys.SECTIONS].values():
        out.append({
            "service_code": s.id,
            "service_name": s.name,
            "description": s.scope,
            "metadata": False,
            "type": "batch",
            "keywords": "",
            "group": s.unit.split()[0] if s.unit.split() else s.name,
        })
    return _json(out)


# -- reading published requests ----------------------------------------------------------------------
def _expected(due: str | None) -> str | None:
    # due_at is a date (the section's answer deadline); the deadline is the end of that day in JST.
    return f"{due}T23:59:59+09:00" if due else None


def request_record(item: pub.PublicItem) -> dict[str, Any]:
    agency = " ".join(x for x in (item.section_unit, item.section_name and f"（{item.section_name}）") if x)
    return {
        "service_request_id": item.receipt_no,
        "status": "closed",
        "status_notes": item.answer,
        "service_name": item.section_name,
        "service_code": item.section,
        "description": item.summary,
        "agency_responsible": agency or None,
        "service_notice": None,
        "requested_datetime": item.received_at,
        "updated_datetime": item.published_at,
        "expected_datetime": _expected(item.due_at),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def parse_datetime(name: str, value: str) -> datetime:
    """A W3C/ISO 8601 datetime (or date); without a zone it is read as JST."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be a W3C datetime, e.g. 2026-11-01T00:00:00+09:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=clock.JST)
    return dt.astimezone(clock.JST)


def _int(name: str, value: str, default: int, lo: int, hi: int) -> int:
    if value == "":
        return default
    if not value.isdigit() or len(value) > 7 or not lo <= int(value) <= hi:
        raise InvalidInput(f"{name} must be an integer from {lo} to {hi}")
    return int(value)


async def list_requests(request: web.Request) -> web.Response:
    q = request.query
    ids_raw = q.get("service_request_id", "").strip()
    page = _int("page", q.get("page", ""), 1, 1, 1_000_000)
    size = _int("page_size", q.get("page_size", ""), PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if ids_raw:  # the spec: service_request_id overrides every other argument
        ids = [i.strip() for i in ids_raw.split(",") if i.strip()]
        if len(ids) > MAX_IDS or not all(RECEIPT.match(i) for i in ids):
            raise InvalidInput(f"service_request_id must be up to {MAX_IDS} comma separated ids like 2026-000123")
        f = pub.PublicFilter(receipt_nos=ids)
    else:
        code = q.get("service_code", "").strip()
        if code and code not in request.app[keys.SECTIONS]:
            raise InvalidInput("service_code not found")
        statuses = {s.strip() for s in q.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise InvalidInput("status must be open, closed, or both separated by a comma")
        start = parse_datetime("start_date", q["start_date"]) if q.get("start_date") else None
        end = parse_datetime("end_date", q["end_date"]) if q.get("end_date") else None
        if start and end and (end < start or end - start > MAX_SPAN):
            raise InvalidInput("start_date must precede end_date, and the range may not span more than 90 days")
        if not start and not end:  # the spec's default: the last 90 days
            start = clock.jst_now() - MAX_SPAN
        if statuses == {"open"}:  # every published item is answered (closed); nothing open is public
            return _json([])
        f = pub.PublicFilter(
            section=code or None,
            received_from=clock.iso(start) if start else None,
            # end_date is inclusive; stored times have whole seconds
            received_to=clock.iso(end + timedelta(seconds=1)) if end else None,
        )
    async with request.app[keys.DB].read() as conn:
        items, _ = await pub.search(conn, f, limit=size, offset=(page - 1) * size)
    return _json([request_record(i) for i in items])


async def one_request(request: web.Request) -> web.Response:
    rid = request.match_info["id"]
    async with request.app[keys.DB].read() as conn:
        item = await pub.get(conn, rid) if RECEIPT.match(rid) else None
    if item is None:
        raise NotFound("service_request_id not found (only published requests are available)")
    return _json([request_record(item)])


# -- creating a request --------------------------------------------------------------------------------
def _coordinate(name: str, value: str, limit: float) -> float | None:
    if value == "":
        return None
    try:
        x = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a decimal number") from None
    if not math.isfinite(x) or abs(x) > limit:
        raise InvalidInput(f"{name} is out of range")
    return x


async def create_request(request: web.Request) -> web.Response:
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the body must be application/x-www-form-urlencoded UTF-8") from exc
    code = clean(form.get("service_code"))
    if not code:
        raise InvalidInput("service_code is required")
    if code not in request.app[keys.SECTIONS]:
        raise InvalidInput("service_code not found")
    text = clean(form.get("description"), multiline=True)
    if not text:
        raise InvalidInput("description is required")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"description may be at most {MAX_TEXT} characters")
    consent = form.get("attribute[consent]")
    if consent not in ("yes", "no"):
        raise InvalidInput("attribute[consent] is required: yes (the request and its answer may be published,"
                           " with personal information masked) or no")
    lat = _coordinate("lat", clean(form.get("lat")), 90)
    lon = _coordinate("long", clean(form.get("long")), 180)
    if (lat is None) != (lon is None):
        raise InvalidInput("lat and long must be given together")
    place = clean(form.get("address_string"))
    if len(place) > MAX_PLACE:
        raise InvalidInput(f"address_string may be at most {MAX_PLACE} characters")
    name = " ".join(x for x in (clean(form.get("last_name")), clean(form.get("first_name"))) if x)
    contact = " ".join(x for x in (name, clean(form.get("email")), clean(form.get("phone"))) if x)
    if len(contact) > MAX_CONTACT:
        raise InvalidInput(f"first_name, last_name, email and phone together may be at most {MAX_CONTACT} characters")

    addr = client_address(request)
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > 200 or not key.isprintable():
        raise InvalidInput("Idempotency-Key may be at most 200 printable characters")
    client_key = None
    if key:  # scoped by address, so two clients that happen to choose the same key never collide
        client_key = "open311:" + hashlib.sha256(f"{addr}\0{key}".encode()).hexdigest()[:32]
    limiter = request.app[keys.SUBMIT_LIMITER]
    replay = False
    if client_key:  # a retried request is answered from the first one and not counted again
        async with request.app[keys.DB].read() as conn:
            replay = await subs.by_client_key(conn, client_key) is not None
    if not replay and not limiter.allow(f"ip:{addr}"):
        exc = RateLimited("too many requests from this address; retry later")
        exc.headers = {"Retry-After": str(limiter.retry_after(f"ip:{addr}"))}  # type: ignore[attr-defined]
        raise exc
    new = NewSubmission(channel=Channel.OPEN311, text=text, consent=consent == "yes", place=place or None,
                        lat=lat, lon=lon, contact=contact or None, client_key=client_key)
    receipt = await request.app[keys.WORKFLOW].receive(new, section=code)
    receipt_no = receipt.submission.receipt_no
    if receipt.duplicate:
        notice = f"この送信は受付済みです。受付番号: {receipt_no}"
    else:
        base = request.app[keys.SETTINGS].base_url.rstrip("/") or f"{request.scheme}://{request.host}"
        notice = (f"ご意見を受け付けました。受付番号: {receipt_no}　対応状況と回答は次のページで確認できます"
                  f"（投稿者専用）: {base}/status/{receipt.status_token}")
    return _json([{"service_request_id": receipt_no, "service_notice": notice, "account_id": None}],
                 status=200 if receipt.duplicate else 201)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/open311/v2/services.json", services)
    app.router.add_get("/open311/v2/requests.json", list_requests)
    app.router.add_post("/open311/v2/requests.json", create_request)
    app.router.add_get(r"/open311/v2/requests/{id:[^/]{1,40}}.json", one_request)
