"""Durability: a restart mid-conversation, acknowledged events left unprocessed, a crash mid-send."""

from __future__ import annotations

import time
from dataclasses import replace

from bot.config import BotTuning
from bot.submit import client_key
from bot.webhook import to_inbox
from meyasubako import keys
from meyasubako.domain import Channel, NewSubmission
from storage import line as line_db
from storage.connect import make_database
from tests.bot.conftest import FAST, count, post_events, postback_data, receipts_in, settle
from tests.bot.test_conversation import say
from tests.line_double import postback_event, text_event, user_id

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1, U2 = user_id(1), user_id(2)


async def test_restart_in_the_middle_of_a_conversation(make_line_client, line_api):
    first = await make_line_client()
    await say(first, line_api, U1, "駅前の自転車置き場が足りません。")
    await say(first, line_api, U1, "朝はいつも満車です。")
    consent = postback_data(line_api, U1, "公開してよい")
    await first.close()  # orderly shutdown: the draft is on disk

    second = await make_line_client()
    assert await post_events(second, line_api, postback_event(U1, consent)) == 200
    await settle(second)
    send = postback_data(line_api, U1, "送信する")
    assert await post_events(second, line_api, postback_event(U1, send)) == 200
    await settle(second)
    [receipt_no] = receipts_in([line_api.delivered_to(U1)[-1]])
    async with second.app[keys.DB].read() as conn:
        async with conn.execute("SELECT text, consent FROM submissions WHERE receipt_no = ?", (receipt_no,)) as cur:
            text, consent = await cur.fetchone()
    assert text == "駅前の自転車置き場が足りません。\n朝はいつも満車です。" and consent == 1


async def test_acknowledged_events_left_unprocessed_are_processed_at_start(make_line_client, line_api,
                                                                          line_settings):
    # The webhook committed these and answered 200, then the process died before processing them.
    fresh = text_event(U1, "公園の噴水が止まっています。")
    old = text_event(U2, "横断歩道の白線が消えています。", ts_ms=int(time.time() * 1000) - 120_000)
    line_api.reply_owner[fresh["replyToken"]] = U1
    db = make_database(line_settings.db)
    await db.open()

    async def job(conn):  # type: ignore[no-untyped-def]
        rows = [to_inbox(ev, None, BotTuning()) for ev in (fresh, old)]
        return await line_db.insert_events(conn, rows, "2026-11-30T09:00:00.000000+09:00")

    assert len(await db.write(job)) == 2
    await db.close()

    client = await make_line_client()
    await settle(client)
    assert "ご意見ありがとうございます" in line_api.delivered_to(U1)[-1]  # still fresh: a reply
    assert "ご意見ありがとうございます" in line_api.delivered_to(U2)[-1]  # token too old: a push
    assert [r.to for r in line_api.of("push")] == [U2]
    assert await count(client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 0
    assert await count(client, "SELECT COUNT(*) FROM line_inbox WHERE body_json != '{}'") == 0  # text not kept


async def test_crash_between_storing_the_submission_and_the_reply(make_line_client, line_api):
    first = await make_line_client(tuning=replace(FAST, sweep_interval=3600))  # nothing picks the event up
    await say(first, line_api, U1, "公民館の予約方法を教えてください。")
    send = postback_data(line_api, U1, "このまま送信")
    draft_id = send.rsplit("d=", 1)[1]
    # What the submitter does first: the submission is committed ...
    receipt = await first.app[keys.WORKFLOW].receive(NewSubmission(
        channel=Channel.LINE, text="公民館の予約方法を教えてください。", consent=False, line_user_id=U1,
        client_key=client_key(draft_id)))
    # ... and the postback that caused it is in the inbox, unprocessed, when the process dies.
    ev = postback_event(U1, send)
    line_api.reply_owner[ev["replyToken"]] = U1

    async def job(conn):  # type: ignore[no-untyped-def]
        return await line_db.insert_events(conn, [to_inbox(ev, None, BotTuning())], "2026-11-30T09:00:00+09:00")

    await first.app[keys.DB].write(job)
    await first.close()

    second = await make_line_client()
    await settle(second)
    texts = line_api.delivered_to(U1)
    assert receipts_in(texts) == [receipt.submission.receipt_no]  # one receipt, the stored number
    assert await count(second, "SELECT COUNT(*) FROM submissions") == 1
    assert await count(second, "SELECT COUNT(*) FROM line_drafts WHERE state = 'submitted'") == 1
    assert await count(second, "SELECT COUNT(*) FROM line_inbox WHERE outcome = 'send:duplicate'") == 1


async def test_shutdown_waits_for_events_being_processed(make_line_client, line_api):
    client = await make_line_client()
    users = [user_id(100 + i) for i in range(10)]
    for u in users:
        assert await post_events(client, line_api, text_event(u, "ベンチを増やしてください。")) == 200
    await client.close()  # immediately: the background tasks must finish first
    again = await make_line_client()
    await settle(again)
    assert await count(again, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 0
    assert await count(again, "SELECT COUNT(*) FROM line_drafts") == 10
    assert await count(again, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == 10
