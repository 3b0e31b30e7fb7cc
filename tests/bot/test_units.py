"""Pure pieces of the LINE side: postback data, backoff, signatures, draft expiry."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bot import postback
from bot.config import BotTuning
from bot.sender import OutboxSender
from bot.webhook import signature_ok
from tests.bot.conftest import FAST, count, post_events, postback_data, settle
from tests.bot.test_conversation import say
from tests.line_double import CHANNEL_SECRET, postback_event, sign, user_id

DRAFT = "AbCdEfGhIjKlMnOp"


def test_postback_round_trip_and_refusals():
    for action, value in (("consent", "yes"), ("consent", "no"), ("send", None), ("cancel", None)):
        data = postback.encode(action, DRAFT, value)
        assert len(data) <= 300
        assert postback.decode(data) == postback.Postback(action, DRAFT, value)
    for bad in (None, 42, "", "a=send", f"a=send&d={DRAFT}&v=yes", f"a=consent&d={DRAFT}",
                f"a=consent&v=YES&d={DRAFT}", f"d={DRAFT}&a=send&a=send", "a=send&d=short",
                f"a=send&d={DRAFT}x", "=&=", "a=send&d=" + DRAFT + "&" * 400):
        assert postback.decode(bad) is None, bad


@given(st.text(max_size=400))
def test_postback_decode_never_raises(data):
    pb = postback.decode(data)
    assert pb is None or postback.encode(pb.action, pb.draft_id, pb.value) is not None


def test_backoff_grows_caps_and_honours_retry_after():
    tuning = BotTuning(backoff_base=1.0, backoff_max=30.0, retry_after_max=120.0)
    sender = OutboxSender(None, None, tuning, jitter=lambda lo, hi: hi)  # type: ignore[arg-type]
    assert [sender.backoff(n, None) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    assert sender.backoff(1, 60) == 60
    assert sender.backoff(1, 10_000) == 120  # a hostile Retry-After cannot park a message for days
    low = OutboxSender(None, None, tuning, jitter=lambda lo, hi: lo)  # type: ignore[arg-type]
    assert low.backoff(3, None) == 2  # jitter stays within [cap/2, cap]


def test_signature_check_matches_line():
    body = b'{"events":[]}'
    assert signature_ok(CHANNEL_SECRET, body, sign(body))
    assert not signature_ok(CHANNEL_SECRET, body, sign(body, "other"))
    assert not signature_ok(CHANNEL_SECRET, body + b" ", sign(body))
    assert not signature_ok(CHANNEL_SECRET, body, "署名")


async def test_a_draft_left_alone_expires(make_line_client, line_api):
    client = await make_line_client(tuning=replace(FAST, draft_ttl=0.3))
    u = user_id(7)
    await say(client, line_api, u, "古い下書きです。")
    old_send = postback_data(line_api, u, "このまま送信")
    await asyncio.sleep(0.4)
    answer = await say(client, line_api, u, "新しいご意見です。")
    texts = line_api.delivered_to(u)
    assert "時間がたったため取り消しました" in texts[-2] and "ご意見ありがとうございます" in answer
    assert await post_events(client, line_api, postback_event(u, old_send)) == 200
    await settle(client)
    assert "使えなくなりました" in line_api.delivered_to(u)[-1]
    assert await count(client, "SELECT COUNT(*) FROM line_drafts WHERE state = 'cancelled'") == 1
    assert await count(client, "SELECT COUNT(*) FROM submissions") == 0
