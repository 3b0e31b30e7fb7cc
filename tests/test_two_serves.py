"""Two real ``meyasubako serve`` processes on one PostgreSQL database, as behind a load balancer.

Residents' requests land on either process at random (the balancer has no stickiness): the web
form's session and CSRF token from one process are accepted by the other; a LINE conversation
starts on one process and is sent from the other; a double-clicked form and a webhook body that
LINE redelivers to the other process count once. Both processes run outbox senders against the
one LINE API double: every reply and push goes out exactly once (SKIP LOCKED claims). Afterwards
the database is read from outside: receipt numbers unique, every acknowledged item stored once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bench.harness import FormSession, Server, stop_all
from bot import postback
from tests.bot.conftest import RECEIPT
from tests.line_double import (
    ACCESS_TOKEN,
    CHANNEL_SECRET,
    LineDouble,
    body_of,
    postback_event,
    sign,
    text_event,
    user_id,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
RESIDENTS = 12


def draft_of(double: LineDouble, user: str) -> str | None:
    for action in double.last_quick_reply(user):
        pb = postback.decode(action.get("data"))
        if pb is not None:
            return pb.draft_id
    return None


def receipt_of(double: LineDouble, user: str) -> str | None:
    for text in double.delivered_to(user):
        m = RECEIPT.search(text)
        if m:
            return m.group(1)
    return None


async def webhook(http: aiohttp.ClientSession, url: str, double: LineDouble, event: dict) -> None:
    if isinstance(event.get("replyToken"), str):
        double.reply_owner[event["replyToken"]] = event["source"]["userId"]
    body = body_of(event)
    async with http.post(url + "/line/webhook", data=body,
                         headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"}) as resp:
        assert resp.status == 200, await resp.text()


async def line_resident(http: aiohttp.ClientSession, urls: list[str], double: LineDouble, n: int) -> str:
    """Write on one process, tap 送信 on the other; return the 受付番号 LINE delivered."""
    user = user_id(20_000 + n)
    first, second = urls[n % 2], urls[(n + 1) % 2]
    await webhook(http, first, double, text_event(user, f"公園の遊具が壊れています。（住民{n}）"))
    await double.wait_for(lambda: draft_of(double, user) is not None, timeout=15)
    send = postback_event(user, postback.encode("send", draft_of(double, user)))
    await webhook(http, second, double, send)
    await webhook(http, first, double, dict(send, deliveryContext={"isRedelivery": True}))  # LINE retried elsewhere
    await double.wait_for(lambda: receipt_of(double, user) is not None, timeout=15)
    return receipt_of(double, user)  # type: ignore[return-value]


async def web_resident(http: aiohttp.ClientSession, urls: list[str], n: int) -> list[str]:
    """One browser session, its posts spread over both processes, plus one double-click."""
    form = FormSession(http, urls[n % 2])
    await form.open()
    got: list[str] = []
    for i in range(3):
        form.base = urls[(n + i) % 2]
        status, receipt = await form.submit(f"歩道の段差が危ないです。（住民{n}-{i}）")
        assert status == 303 and receipt, status
        got.append(receipt)
    fid = uuid.uuid4().hex
    form.base = urls[0]
    first = form.post("自転車の放置が多いです。", form_id=fid)
    form.base = urls[1]
    twice = await asyncio.gather(first, form.post("自転車の放置が多いです。", form_id=fid))
    assert [r.status for r in twice] == [303, 303]
    shown = {await form.receipt(r.headers["Location"]) for r in twice}
    assert len(shown) == 1, shown  # the double-click is one submission, whichever process took it
    return got + list(shown)


async def test_two_serve_processes_share_the_load_and_the_outbox(db_url: str, tmp_path: Path) -> None:
    double = LineDouble()
    await double.start()
    env = {"LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
           "LINE_API_BASE": double.base_url, "MEYASUBAKO_FILES_DIR": str(tmp_path / "files")}
    servers = [Server(db_url, env=env, log=tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start, 60) for s in servers))
        urls = [s.url for s in servers]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                         cookie_jar=aiohttp.DummyCookieJar()) as http:
            results = await asyncio.gather(*(line_resident(http, urls, double, n) for n in range(RESIDENTS)),
                                           *(web_resident(http, urls, n) for n in range(RESIDENTS)))
        line_receipts = results[:RESIDENTS]
        web_receipts = [r for group in results[RESIDENTS:] for r in group]
        assert len(set(line_receipts)) == RESIDENTS
        assert len(set(web_receipts)) == RESIDENTS * 4
        assert not set(line_receipts) & set(web_receipts)

        # Let both senders go quiet, then hold the outbox against what LINE (the double) received.
        deadline = time.monotonic() + 20
        conn = await asyncpg.connect(db_url)
        try:
            while await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'pending'") and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            rows = await conn.fetch("SELECT retry_key, status, kind FROM outbox")
            subs = await conn.fetch("SELECT receipt_no, channel FROM submissions")
            pending = await conn.fetchval("SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL")
            inbox = await conn.fetchval("SELECT COUNT(*) FROM line_inbox")
        finally:
            await conn.close()
        assert pending == 0
        assert inbox == RESIDENTS * 2  # the redelivered 送信 was dropped by event id
        assert sorted(r["receipt_no"] for r in subs) == sorted(line_receipts + web_receipts)
        assert all(r["status"] == "sent" for r in rows), [dict(r) for r in rows if r["status"] != "sent"]
        accepted = [r for ep in ("reply", "push") for r in double.of(ep, status=200)]
        keys = [r.retry_key for r in double.of("push", status=200)]
        assert len(keys) == len(set(keys))  # no push accepted twice under one key
        assert len(accepted) == len(rows)  # one delivery per outbox row: none lost, none doubled
    finally:
        stop_all(servers)
        await double.stop()
    for s in servers:
        log = s.log.read_text(errors="replace")
        assert "Traceback" not in log and "event=unhandled" not in log, s.tail(60)
        assert "event=started" in log
