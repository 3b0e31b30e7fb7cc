"""Crash safety with LINE: SIGKILL a LINE-configured ``serve`` at random moments while residents
chat with it, restart it, and hold it to what the webhook, the inbox and the outbox promise.

The LINE API double runs in this test's event loop; ``serve`` is a child process talking to it
on loopback. Residents write a message, wait for the quick reply that carries their draft id,
tap 送信, and wait for the 受付番号. A body whose 200 did not arrive is redelivered after the
restart (as LINE does, ``isRedelivery: true``). Afterwards:

* every acknowledged event is in the inbox exactly once and processed (once: the inbox keys on
  webhookEventId and marks an event processed in the transaction that applies it);
* every acknowledged 送信 produced exactly one submission; receipt numbers are unique;
* the outbox and the double's log agree: every accepted push or reply belongs to one outbox row,
  no row was delivered twice (a push accepted twice under one retry key would be one delivery —
  the double answers 409 — but a row delivered as a reply AND a push, or two rows for one
  receipt, would be a duplicate), every ``sent`` row was delivered, and a row still pending is
  one that a crash left leased mid-send (the lease brings it back later, under the same key).

Seeded: ``MEYASUBAKO_CRASH_SEED=<n>`` replays a run (the seed is printed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import Server
from bot import postback
from bot.config import now, stamp
from tests.bot.conftest import RECEIPT, draft_of, receipt_of
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

CYCLES = int(os.environ.get("MEYASUBAKO_LINE_CRASH_CYCLES", "6"))
RESIDENTS = 8
SEED = int(os.environ.get("MEYASUBAKO_CRASH_SEED", str(int(time.time()))))
WAIT = 3.0  # how long a resident waits for an answer before giving up on that conversation


class Ledger:
    def __init__(self) -> None:
        self.acked: set[str] = set()                 # webhookEventIds answered 200
        self.sends: dict[str, str] = {}              # acked 送信 postback event id -> draft id
        self.unsure: dict[str, dict[str, Any]] = {}  # events whose answer never came: redeliver
        self.users = itertools.count(10_000)
        self.conversations = 0




async def post(http: aiohttp.ClientSession, url: str, double: LineDouble, ledger: Ledger,
               event: dict[str, Any]) -> None:
    """Send one event; it counts as acknowledged only when the 200 arrived."""
    eid = event["webhookEventId"]
    ledger.unsure[eid] = event
    if isinstance(event.get("replyToken"), str):
        double.reply_owner[event["replyToken"]] = event["source"]["userId"]
    body = body_of(event)
    async with http.post(url + "/line/webhook", data=body, headers={
            "X-Line-Signature": sign(body), "Content-Type": "application/json"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise AssertionError(f"webhook answered {resp.status} while the server was up")
    ledger.acked.add(eid)
    del ledger.unsure[eid]


async def resident(http: aiohttp.ClientSession, url: str, double: LineDouble, ledger: Ledger, tag: str,
                   late: bool) -> None:
    """``late``: LINE delivers this resident's events past the reply window, so answers go as pushes."""
    n = 0
    old = {"ts_ms": int(time.time() * 1000) - 120_000} if late else {}
    while True:
        n += 1
        user = user_id(next(ledger.users))
        await post(http, url, double, ledger, text_event(user, f"道路の穴を直してください。（{tag}-n{n}）", **old))
        try:
            await double.wait_for(lambda u=user: draft_of(double, u) is not None, timeout=WAIT)
        except TimeoutError:
            continue  # the answer is stuck in a lease from an earlier crash: start another conversation
        draft = draft_of(double, user)
        assert draft is not None
        ev = postback_event(user, postback.encode("send", draft), **old)
        await post(http, url, double, ledger, ev)
        ledger.sends[ev["webhookEventId"]] = draft
        ledger.conversations += 1
        try:
            await double.wait_for(lambda u=user: receipt_of(double, u) is not None, timeout=WAIT)
        except TimeoutError:
            continue


async def redeliver(http: aiohttp.ClientSession, url: str, double: LineDouble, ledger: Ledger) -> None:
    for event in list(ledger.unsure.values()):
        again = dict(event, deliveryContext={"isRedelivery": True})
        await post(http, url, double, ledger, again)
        pb = postback.decode((event.get("postback") or {}).get("data"))
        if pb is not None:
            ledger.sends[event["webhookEventId"]] = pb.draft_id


async def start(server: Server) -> None:
    await asyncio.to_thread(server.start)  # off the loop: the double must answer while serve starts


async def cycle(server: Server, double: LineDouble, ledger: Ledger, n: int, delay: float) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        await redeliver(http, server.url, double, ledger)
        tasks = [asyncio.create_task(resident(http, server.url, double, ledger, f"c{n}-r{w}", late=w % 2 == 1))
                 for w in range(RESIDENTS)]
        await asyncio.sleep(delay)
        server.kill()  # SIGKILL: no shutdown, no cleanup, whatever was in flight stays in flight
        await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for r in results:  # a dropped connection or a cancelled wait is the crash; anything else is a defect
        if not isinstance(r, asyncio.CancelledError | aiohttp.ClientError | ConnectionError | TimeoutError):
            raise r  # type: ignore[misc]
    assert await asyncio.to_thread(server.wait, 10) == -9


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# A row waiting behind an earlier one of the same recipient (kept in order) is not due yet.
BLOCKED = (" AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.recipient = o.recipient AND p.status = 'pending'"
           " AND p.id < o.id AND p.next_attempt_at > ?)")


async def quiesce(db: Path, double: LineDouble, timeout: float = 20.0) -> None:
    """Until every event is processed, no outbox row is due, and the double has heard nothing for a while."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pending = rows(db, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL")[0][0]
        t = stamp(now())
        due = rows(db, "SELECT COUNT(*) FROM outbox o WHERE status = 'pending' AND next_attempt_at <= ?" + BLOCKED,
                   (t, t))[0][0]
        seen = len(double.requests)
        await asyncio.sleep(0.3)
        if not pending and not due and len(double.requests) == seen:
            return
    raise AssertionError(f"not quiet after {timeout}s: events={pending} due={due}")


async def test_sigkill_with_line_loses_and_doubles_nothing(tmp_path: Path, servers: list[Server]) -> None:
    rng = random.Random(SEED)
    double = LineDouble()
    await double.start()
    db = tmp_path / "line-crash.sqlite3"
    env = {"LINE_CHANNEL_SECRET": CHANNEL_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
           "LINE_API_BASE": double.base_url}
    ledger = Ledger()
    began = time.monotonic()
    try:
        for n in range(CYCLES):
            server = Server(db, env=env, log=tmp_path / "serve.log")
            servers.append(server)
            await start(server)
            await cycle(server, double, ledger, n, delay=rng.uniform(0.3, 1.5))
        server = Server(db, env=env, log=tmp_path / "serve.log")
        servers.append(server)
        await start(server)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            await redeliver(http, server.url, double, ledger)
        await quiesce(db, double)
        assert await asyncio.to_thread(server.stop) == 0
    finally:
        await double.stop()
    elapsed = time.monotonic() - began
    print(f"seed={SEED} cycles={CYCLES} acked_events={len(ledger.acked)} sends={len(ledger.sends)} "
          f"requests_to_line={len(double.requests)} in {elapsed:.1f}s")
    assert len(ledger.sends) >= CYCLES, f"the residents never got through (seed {SEED}); the test proved nothing"
    assert not ledger.unsure

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Every acknowledged event: stored once, processed.
        inbox = dict(conn.execute("SELECT event_id, processed_at FROM line_inbox").fetchall())
        missing = [e for e in ledger.acked if e not in inbox]
        assert not missing, f"acknowledged but not stored (seed {SEED}): {missing[:5]}"
        assert all(inbox[e] for e in ledger.acked), f"acknowledged but never processed (seed {SEED})"
        # Every acknowledged 送信: exactly one submission for its draft; receipts unique.
        subs = conn.execute("SELECT client_key, receipt_no FROM submissions WHERE channel = 'line'").fetchall()
        keys = [k for k, _ in subs]
        assert len(keys) == len(set(keys)) and len({r for _, r in subs}) == len(subs)
        for eid, draft in ledger.sends.items():
            assert keys.count(f"line-draft:{draft}") == 1, f"送信 {eid} of draft {draft}: no submission (seed {SEED})"
        outbox = conn.execute(
            "SELECT id, recipient, retry_key, reply_token, status, sent_via, next_attempt_at, payload_json"
            " FROM outbox").fetchall()
    finally:
        conn.close()
    check_outbox_against_the_double(outbox, double, {r for _, r in subs})


def check_outbox_against_the_double(outbox: list[tuple[Any, ...]], double: LineDouble, receipts: set[str]) -> None:
    by_key = {r[2]: r for r in outbox}
    by_token = {r[3]: r for r in outbox if r[3]}
    pushed: dict[str, int] = {}
    for p in double.of("push", status=200):
        assert p.retry_key in by_key, f"a push LINE accepted matches no outbox row (seed {SEED})"
        pushed[p.retry_key] = pushed.get(p.retry_key, 0) + 1
    assert all(n == 1 for n in pushed.values())  # the double answers 409 to a repeat; never two 200s
    replied: dict[str, int] = {}
    for r in double.of("reply", status=200):
        token = (r.body or {}).get("replyToken")
        assert token in by_token, f"a reply LINE accepted matches no outbox row (seed {SEED})"
        replied[token] = replied.get(token, 0) + 1
    leased = behind = 0
    later = stamp(now())
    waiting = {(r[1], r[0]) for r in outbox if r[4] == "pending" and r[6] > later}
    for row_id, recipient, key, token, status, via, next_at, _ in outbox:
        deliveries = pushed.get(key, 0) + (replied.get(token, 0) if token else 0)
        if status == "sent":
            assert deliveries == 1, f"outbox row {row_id} sent via {via}: {deliveries} deliveries (seed {SEED})"
        elif status == "pending":
            # Claimed when the process died: leased until next_attempt_at, then retried under the same
            # key (a push that LINE already took answers 409). Never lost, never doubled so far.
            if next_at > later:
                assert deliveries <= 1, (row_id, next_at, deliveries)
                leased += 1
            else:  # in line behind a leased message to the same resident: order is kept, so it waits
                assert deliveries == 0 and any(u == recipient and i < row_id for u, i in waiting), row_id
                behind += 1
        else:
            raise AssertionError(f"outbox row {row_id} failed against a healthy LINE API (seed {SEED})")
    # One receipt message per submission, whatever the crashes did.
    shown: dict[str, int] = {}
    for r in double.requests:
        if r.status == 200 and r.endpoint in ("push", "reply"):
            for text in r.texts:
                for m in RECEIPT.finditer(text):
                    shown[m.group(1)] = shown.get(m.group(1), 0) + 1
    assert set(shown) <= receipts and all(n == 1 for n in shown.values()), (
        f"a receipt number went out twice (seed {SEED}): {[k for k, n in shown.items() if n > 1]}")
    print(f"outbox rows={len(outbox)} pushes={len(pushed)} replies={len(replied)} left leased by a crash={leased}"
          f" waiting behind them={behind}")
