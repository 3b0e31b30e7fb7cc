"""Helpers for the public-side tests: items taken through the real workflow to each end state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from meyasubako import keys
from meyasubako.domain import Channel, NewSubmission, User
from tests.conftest import add_user

_names = itertools.count()


@dataclass
class Made:
    receipt_no: str
    token: str | None


async def approver(app: web.Application) -> User:
    return await add_user(app, f"koucho{next(_names)}", "approver")


async def make_item(
    app: web.Application,
    text: str,
    *,
    user: User,
    section: str = "road",
    summary: str | None = None,
    answer: str | None = None,
    consent: bool = True,
    publish: bool = True,
    close: str | None = None,
    place: str | None = None,
    contact: str | None = None,
    channel: Channel = Channel.WEB,
    received: str | None = None,
    answered: str | None = None,
) -> Made:
    """Receive ``text`` and take it as far as asked: routed, answered, published or closed.

    ``received`` / ``answered`` ('2026-06-03T10:00:00+09:00') run those steps on the workflow's
    clock set to that time (the workflow takes its clock as a parameter), publication follows at
    the answer's time.
    """
    wf = app[keys.WORKFLOW]
    real_now = wf.now

    def at(iso: str | None):  # type: ignore[no-untyped-def]
        return (lambda: datetime.fromisoformat(iso)) if iso else real_now

    try:
        wf.now = at(received)
        r = await wf.receive(NewSubmission(channel=channel, text=text, consent=consent, place=place,
                                           contact=contact))
        no = r.submission.receipt_no
        await wf.route(no, section, user)
        wf.now = at(answered or received)
        if answer is not None:
            await wf.save_answer(no, answer, user)
        if publish and answer is not None and summary is not None and close is None:
            await wf.publish(no, summary, user, pii_confirmed=True)
        if close:
            await wf.close(no, close, user)
    finally:
        wf.now = real_now
    return Made(no, r.status_token)
