"""Helpers for admin tests: items created through the real workflow, users, logged-in clients."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp.test_utils import TestClient

from meyasubako import clock, keys
from meyasubako.domain import Channel, NewSubmission, Submission
from storage import submissions as subs
from tests.conftest import add_user, csrf_of, login


async def new_item(app, text: str, *, section: str | None = None, consent: bool = True,  # type: ignore[no-untyped-def]
                   at: datetime | None = None, by=None) -> Submission:
    """Receive a submission (optionally at a given time) and, with ``section``, route it as ``by``."""
    wf = app[keys.WORKFLOW]
    old = wf.now
    if at is not None:
        wf.now = lambda: at
    try:
        r = await wf.receive(NewSubmission(channel=Channel.WEB, text=text, consent=consent))
        if section is not None:
            await wf.route(r.submission.receipt_no, section, by)
    finally:
        wf.now = old
    return await get(app, r.submission.receipt_no)


async def get(app, receipt_no: str) -> Submission:  # type: ignore[no-untyped-def]
    async with app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    assert sub is not None
    return sub


async def events(app, receipt_no: str) -> list:  # type: ignore[no-untyped-def]
    sub = await get(app, receipt_no)
    async with app[keys.DB].read() as conn:
        return await subs.events_for(conn, sub.id)


async def setup_people(app):  # type: ignore[no-untyped-def]
    """An admin, an approver, a road staff member and a welfare staff member."""
    return {
        "root": await add_user(app, "root", "admin"),
        "koucho": await add_user(app, "koucho", "approver"),
        "douro": await add_user(app, "douro", "staff", section="road"),
        "fukushi": await add_user(app, "fukushi", "staff", section="welfare"),
    }


async def as_user(client: TestClient, name: str) -> None:
    client.session.cookie_jar.clear()
    await login(client, name)


async def token(client: TestClient, path: str = "/admin/") -> str:
    return csrf_of(await (await client.get(path)).text())


async def post(client: TestClient, path: str, data: dict, *, page: str = "/admin/"):  # type: ignore[no-untyped-def]
    return await client.post(path, data={"csrf_token": await token(client, page), **data}, allow_redirects=False)


def jst(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=clock.JST)


def flash_text(html: str) -> str:
    return " ".join(re.findall(r'class="notice flash" role="status"><p>(.*?)</p>', html))
