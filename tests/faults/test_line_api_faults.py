"""The LINE API misbehaving, end to end: the real app, the real SDK, the double on loopback.

tests/bot/test_delivery.py covers one fault at a time (a 500 then a 429 with Retry-After, a
timeout that LINE accepted late, a reset, a rejected reply token, a 400). Here: the faults it does
not cover (429 without Retry-After, a timeout LINE never accepted, a 400 on a reply, a revoked
token) and a whole outage with many residents, after which the outbox must drain with every
message delivered exactly once, under the retry key it was queued with.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

from tests.bot.conftest import FAST, RECEIPT, outbox_rows, post_events, settle
from tests.line_double import LineDouble, follow_event, text_event, user_id

U1 = user_id(1)


def stale_text(user: str, text: str):  # type: ignore[no-untyped-def]
    """A message whose reply token is already past its window: the answer goes out as a push."""
    return text_event(user, text, ts_ms=int(time.time() * 1000) - 120_000)


def accepted_pushes_by_key(double: LineDouble) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in double.of("push", status=200):
        assert r.retry_key is not None
        out[r.retry_key] = out.get(r.retry_key, 0) + 1
    return out


async def test_429_without_retry_after_backs_off_and_keeps_the_key(line_client, line_api):
    line_api.fail("push", count=2, status=429)
    assert await post_events(line_client, line_api, stale_text(U1, "歩道の段差が危ないです。")) == 200
    await settle(line_client)
    pushes = line_api.of("push")
    assert [p.status for p in pushes] == [429, 429, 200]
    assert len({p.retry_key for p in pushes}) == 1
    # Exponential backoff: the second wait is not shorter than half the first cap (jitter in [cap/2, cap]).
    assert pushes[1].at - pushes[0].at >= 0.01 and pushes[2].at - pushes[1].at >= 0.02
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.attempts == 3


async def test_timeout_that_line_never_accepted_is_retried_and_delivered_once(line_client, line_api):
    line_api.fail("push", delay=1.0, status=500)  # slower than the 0.5 s client timeout, and then a failure
    assert await post_events(line_client, line_api, stale_text(U1, "信号機の時間が短いです。")) == 200
    await settle(line_client)
    await asyncio.sleep(0.6)  # let the slow request finish on the double's side
    pushes = line_api.of("push")
    # The double logs the slow request twice: when it arrives (0) and when it answers 500 to nobody.
    assert sorted(p.status for p in pushes) == [0, 200, 500], [p.status for p in pushes]
    assert len({p.retry_key for p in pushes}) == 1
    assert len(line_api.delivered_to(U1)) == 1
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.last_status == 200


async def test_a_reply_refused_with_400_is_recorded_and_not_sent_again(line_client, line_api):
    line_api.fail("reply", status=400, body={"message": "The request body has 1 error(s)"})
    assert await post_events(line_client, line_api, follow_event(U1)) == 200
    await settle(line_client)
    assert [r.status for r in line_api.of("reply")] == [400]
    assert line_api.of("push") == []  # not a reply-token problem: no push fallback either
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "failed" and row.last_status == 400 and "1 error" in row.last_error
    assert row.attempts == 1


async def test_a_revoked_access_token_is_not_hammered(line_client, line_api):
    line_api.fail("push", status=401, body={"message": "Authentication failed"})
    assert await post_events(line_client, line_api, stale_text(U1, "ごみの回収が遅れています。")) == 200
    await settle(line_client)
    assert [p.status for p in line_api.of("push")] == [401]
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "failed" and row.last_status == 401


async def test_outbox_drains_after_an_outage_each_message_once_under_its_own_key(make_line_client, line_api):
    """Twelve residents write while LINE is down (resets, 503s, 429s, timeouts): nothing is lost,
    nothing is doubled, every attempt of one message carries the same key, and once the API is
    back the outbox drains."""
    line_client = await make_line_client(tuning=replace(FAST, max_attempts=100))  # an outage, not a dead API
    users = [user_id(100 + i) for i in range(12)]
    line_api.fail("push", reset=True)
    line_api.fail("push", delay=0.8, status=503)
    line_api.fail("push", status=429)
    line_api.outage("push", status=503)
    line_api.outage("reply", status=500)
    # Every resident's first message is fresh (reply), the second stale (push).
    fresh = [text_event(u, f"{i}番の公園の遊具が壊れています。") for i, u in enumerate(users)]
    stale = [stale_text(u, "追記です。近くの街灯も消えています。") for u in users]
    for ev in fresh:
        assert await post_events(line_client, line_api, ev) == 200
    assert await post_events(line_client, line_api, *stale) == 200
    await asyncio.sleep(0.4)  # a few rounds of failed attempts while the API is down
    rows = await outbox_rows(line_client)
    assert len(rows) == 2 * len(users) and all(r.status == "pending" for r in rows)
    assert line_api.of("push", status=200) == [] and line_api.of("reply", status=200) == []
    line_api.recover()
    await settle(line_client, timeout=15)

    rows = await outbox_rows(line_client)
    assert [r.status for r in rows] == ["sent"] * len(rows)
    keys = {r.retry_key for r in rows}
    assert len(keys) == len(rows)
    accepted = accepted_pushes_by_key(line_api)
    assert set(accepted) <= keys and all(n == 1 for n in accepted.values())
    for p in line_api.of("push"):  # every attempt, failed or not, used a key of a queued message
        assert p.retry_key in keys and uuid.UUID(p.retry_key)
    by_id = {r.id: r for r in rows}
    for r in by_id.values():
        sent_as_reply = any(x.status == 200 and (x.body or {}).get("replyToken") == r.reply_token
                            for x in line_api.of("reply")) if r.reply_token else False
        assert (r.retry_key in accepted) + sent_as_reply == 1, r  # exactly one delivery per message
    for u in users:
        texts = line_api.delivered_to(u)
        assert len(texts) == 2 and "ご意見ありがとうございます" in texts[0] and "追記しました" in texts[1]
    assert not any(RECEIPT.search(t) for u in users for t in line_api.delivered_to(u))  # nothing sent yet
