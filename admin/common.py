"""Helpers shared by the admin views: who sees what, queue filters from a query string, flash
messages, PII highlighting."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from meyasubako import clock, keys
from meyasubako.domain import Channel, PiiSpanRecord, Role, Status, User
from storage.queue import SORTS, QueueFilter

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_QUERY = 100

PII_LABELS = {
    "person": "氏名", "phone": "電話番号", "email": "メールアドレス", "address": "住所", "postal_code": "郵便番号",
    "mynumber": "個人番号", "plate": "車両番号", "birthdate": "生年月日", "account": "口座番号",
}


def visible_sections(user: User) -> list[str] | None:
    """None = every section (approvers, admins); otherwise the staff member's own section."""
    if user.role in (Role.ADMIN, Role.APPROVER):
        return None
    return [user.section] if user.section else []


def today() -> str:
    return clock.jst_now().date().isoformat()


@dataclass(frozen=True)
class ParsedQuery:
    filter: QueueFilter
    form: dict[str, str]  # the cleaned values, to refill the filter form and build links
    sort: str
    after: str | None
    before: str | None


async def parse_filters(request: web.Request, user: User, query: Mapping[str, str] | None = None) -> ParsedQuery:
    """Queue filters from the query string. Unknown or hostile values are dropped, never trusted;
    the user's section restriction is applied whatever the query says."""
    q = query if query is not None else request.query
    form: dict[str, str] = {}

    def pick(name: str, allowed: set[str]) -> str | None:
        v = str(q.get(name, ""))
        if v in allowed:
            form[name] = v
            return v
        return None

    status = pick("status", {s.value for s in Status})
    section = pick("section", set(request.app[keys.SECTIONS]))
    channel = pick("channel", {c.value for c in Channel})
    consent = pick("consent", {"yes", "no"})
    overdue = pick("overdue", {"1"}) == "1"
    date_from = str(q.get("from", ""))
    date_to = str(q.get("to", ""))
    date_from = date_from if DATE_RE.match(date_from) else ""
    date_to = date_to if DATE_RE.match(date_to) else ""
    if date_from:
        form["from"] = date_from
    if date_to:
        form["to"] = date_to
    mine = pick("mine", {"1"}) == "1"
    text = str(q.get("q", "")).strip()[:MAX_QUERY]
    if text:
        form["q"] = text
    terms = await request.app[keys.NLP].terms(text) if text else None
    sort = pick("sort", set(SORTS)) or "new"
    after = str(q.get("after", ""))[:64] or None
    before = str(q.get("before", ""))[:64] or None
    f = QueueFilter(
        sections=visible_sections(user), section=section, status=status, channel=channel,
        consent=None if consent is None else consent == "yes", overdue=overdue,
        date_from=date_from or None, date_to=date_to or None, assignee=user.name if mine else None,
        terms=terms if terms else ([text] if text else None), today=today(),
    )
    return ParsedQuery(f, form, sort, after, before)


# -- flash messages (survive one redirect, kept in the encrypted session) ---------------------------
async def flash(request: web.Request, message: str, kind: str = "notice") -> None:
    session = await get_session(request)
    session["flash"] = [*session.get("flash", [])[-4:], [kind, message[:500]]]


async def pop_flash(request: web.Request) -> list[list[str]]:
    session = await get_session(request)
    return session.pop("flash", [])


# -- PII highlighting -------------------------------------------------------------------------------
def segments(text: str, spans: list[PiiSpanRecord]) -> list[tuple[str, str | None]]:
    """Split ``text`` into (piece, pii label or None) so a template can mark each span.
    Overlapping or out-of-range spans are clipped rather than trusted."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        start, end = max(s.start, pos), min(s.end, len(text))
        if end <= start:
            continue
        if start > pos:
            out.append((text[pos:start], None))
        out.append((text[start:end], PII_LABELS.get(s.type, s.type)))
        pos = end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def int_or(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default
