"""Delivery through the outbox: replies while fresh, pushes with a stable retry key, backoff."""

from __future__ import annotations

import time
import uuid

from tests.bot.conftest import outbox_rows, post_events, settle
from tests.line_double import follow_event, text_event, unfollow_event, user_id

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1, U2 = user_id(1), user_id(2)
OLD = 120_000  # ms: an event this old has a reply token past its window


def stale_text(user: str, text: str):  # type: ignore[no-untyped-def]
    return text_event(user, text, ts_ms=int(time.time() * 1000) - OLD)


async def test_push_retries_keep_one_retry_key_across_500_and_429(line_client, line_api):
    line_api.fail("push", status=500)
    line_api.fail("push", status=429, retry_after="1")
    assert await post_events(line_client, line_api, stale_text(U1, "道路の穴を直してください。")) == 200
    await settle(line_client)
    pushes = line_api.of("push")
    assert [p.status for p in pushes] == [500, 429, 200]
    keys = {p.retry_key for p in pushes}
    assert len(keys) == 1 and uuid.UUID(keys.pop())
    assert pushes[2].at - pushes[1].at >= 0.95  # Retry-After honoured
    assert line_api.of("reply") == []  # the token was too old to try
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.sent_via == "push" and row.attempts == 3 and row.last_status == 200
    assert "ご意見ありがとうございます" in line_api.delivered_to(U1)[0]


async def test_timeout_then_409_means_already_delivered_once(line_client, line_api):
    line_api.fail("push", delay=1.0, status=200)  # accepted, but after the client's 0.5 s timeout
    assert await post_events(line_client, line_api, stale_text(U1, "公園の草刈りをお願いします。")) == 200
    await settle(line_client)
    await line_api.wait_for(lambda: any(p.status == 200 for p in line_api.of("push")), timeout=3)
    statuses = [p.status for p in line_api.of("push")]
    assert statuses[0] == 0 and 409 in statuses and statuses.count(200) == 1
    assert len({p.retry_key for p in line_api.of("push")}) == 1
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.last_status == 409 and "already accepted" in (row.last_error or "")
    assert len(line_api.delivered_to(U1)) == 1  # the resident got it exactly once


async def test_connection_reset_is_retried(line_client, line_api):
    line_api.fail("push", reset=True)
    assert await post_events(line_client, line_api, stale_text(U1, "街灯が切れています。")) == 200
    await settle(line_client)
    assert [p.status for p in line_api.of("push")] == [0, 200]
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.attempts == 2


async def test_invalid_reply_token_falls_back_to_push(line_client, line_api):
    ev = text_event(U1, "図書館の本を増やしてください。")
    line_api.reject_reply_token(ev["replyToken"])
    assert await post_events(line_client, line_api, ev) == 200
    await settle(line_client)
    assert [r.status for r in line_api.of("reply")] == [400]
    assert [p.status for p in line_api.of("push")] == [200]
    assert line_api.of("push")[0].to == U1
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "sent" and row.sent_via == "push"


async def test_reply_5xx_is_retried_as_a_reply_while_fresh(line_client, line_api):
    line_api.fail("reply", status=503)
    assert await post_events(line_client, line_api, follow_event(U1)) == 200
    await settle(line_client)
    assert [r.status for r in line_api.of("reply")] == [503, 200]
    assert line_api.of("push") == []


async def test_400_is_recorded_and_not_retried(line_client, line_api):
    line_api.fail("push", status=400, body={"message": "The property, 'to', in the request body is invalid"})
    assert await post_events(line_client, line_api, stale_text(U1, "ごみ集積所が荒れています。")) == 200
    await settle(line_client)
    assert [p.status for p in line_api.of("push")] == [400]
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "failed" and row.last_status == 400 and "invalid" in row.last_error


async def test_persistent_5xx_gives_up_after_max_attempts(line_client, line_api):
    for _ in range(10):
        line_api.fail("push", status=502)
    assert await post_events(line_client, line_api, stale_text(U1, "水道の水が濁っています。")) == 200
    await settle(line_client)
    assert len(line_api.of("push")) == 5  # FAST.max_attempts
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "failed" and row.last_status == 502 and row.attempts == 5


async def test_unfollowed_user_gets_no_push_until_they_follow_again(line_client, line_api):
    assert await post_events(line_client, line_api, unfollow_event(U1)) == 200
    await settle(line_client)
    # An event the user sent just before blocking, processed after: its answer must not go out.
    assert await post_events(line_client, line_api, stale_text(U1, "前に書いたご意見です。")) == 200
    await settle(line_client)
    assert line_api.of("push") == []
    [row] = await outbox_rows(line_client, U1)
    assert row.status == "failed" and "unfollowed" in row.last_error
    assert await post_events(line_client, line_api, follow_event(U1, unblocked=True)) == 200
    await settle(line_client)
    assert "目安箱" in line_api.delivered_to(U1)[-1]
    assert await post_events(line_client, line_api, stale_text(U1, "また書きます。")) == 200
    await settle(line_client)
    assert [p.status for p in line_api.of("push")] == [200]


async def test_messages_to_one_user_keep_their_order(line_client, line_api):
    events = [stale_text(U1, f"{i}番目のメッセージです。") for i in range(5)]
    line_api.fail("push", status=500)
    assert await post_events(line_client, line_api, *events) == 200
    await settle(line_client)
    texts = line_api.delivered_to(U1)
    assert len(texts) == 5
    assert "ご意見ありがとうございます" in texts[0] and all("追記しました" in t for t in texts[1:])
