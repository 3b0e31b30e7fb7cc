"""A resident's journey in the chat, against the LINE API double, through the real app."""

from __future__ import annotations

from meyasubako import keys
from storage import submissions as subs
from tests.bot.conftest import count, post_events, postback_data, receipts_in, settle
from tests.line_double import follow_event, postback_event, sticker_event, text_event, user_id, video_event

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1, U2 = user_id(1), user_id(2)
POTHOLE = "家の前の市道に大きな穴があいていて、自転車で通ると危ないです。"
MORE = "夜は暗くて特に見えにくいです。早めに補修してください。"


async def say(client, double, user, text):  # type: ignore[no-untyped-def]
    assert await post_events(client, double, text_event(user, text)) == 200
    await settle(client)
    return double.delivered_to(user)[-1]


async def tap(client, double, user, label):  # type: ignore[no-untyped-def]
    data = postback_data(double, user, label)
    assert await post_events(client, double, postback_event(user, data)) == 200
    await settle(client)
    return double.delivered_to(user)[-1]


async def test_full_conversation_to_a_receipt_number(line_client, line_api):
    assert await post_events(line_client, line_api, follow_event(U1)) == 200
    await settle(line_client)
    greeting = line_api.delivered_to(U1)[0]
    assert "目安箱" in greeting and "個人情報は公開しません" in greeting and "文章で送って" in greeting

    first = await say(line_client, line_api, U1, POTHOLE)
    assert "ご意見ありがとうございます" in first and "「道路" in first and "公開してもよいですか" in first
    labels = [a["label"] for a in line_api.last_quick_reply(U1)]
    assert labels[:6] == ["公開してよい", "公開しない", "位置情報を送る", "写真を撮る", "写真を選ぶ", "このまま送信"]
    types = {a["label"]: a["type"] for a in line_api.last_quick_reply(U1)}
    assert types["位置情報を送る"] == "location" and types["写真を撮る"] == "camera"
    assert types["写真を選ぶ"] == "cameraRoll"

    second = await say(line_client, line_api, U1, MORE)
    assert "追記しました" in second

    consented = await tap(line_client, line_api, U1, "公開してよい")
    assert "「公開してよい」で承りました" in consented
    assert "送信する" in [a["label"] for a in line_api.last_quick_reply(U1)]

    done = await tap(line_client, line_api, U1, "送信する")
    [receipt_no] = receipts_in([done])
    assert "公開: してよい" in done

    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    assert sub is not None and sub.channel == "line" and sub.line_user_id == U1 and sub.consent
    assert sub.text == f"{POTHOLE}\n{MORE}"  # several messages, one submission
    assert sub.section == "road"
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 1
    # Every outbound message went as a reply while its token was fresh.
    assert line_api.of("push") == []
    assert all(r.status == 200 for r in line_api.of("reply"))

    # Status: the list, and the receipt number typed in full-width digits.
    status = await say(line_client, line_api, U1, "状況")
    assert receipt_no in status and "担当課で確認中" in status
    wide = receipt_no.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    one = await say(line_client, line_api, U1, f"受付番号：{wide}")
    assert receipt_no in one and "状況:" in one


async def test_one_tap_send_is_not_published(line_client, line_api):
    await say(line_client, line_api, U1, "図書館の開館時間を延ばしてほしいです。")
    done = await tap(line_client, line_api, U1, "このまま送信")
    [receipt_no] = receipts_in([done])
    assert "公開: しない" in done
    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    assert sub is not None and not sub.consent


async def test_status_never_shows_other_residents_items(line_client, line_api):
    await say(line_client, line_api, U1, "公園のトイレが汚れています。")
    await tap(line_client, line_api, U1, "公開しない")
    [mine] = receipts_in([await tap(line_client, line_api, U1, "送信する")])
    other = await say(line_client, line_api, U2, mine)
    assert "見つかりませんでした" in other and "トイレ" not in other
    listing = await say(line_client, line_api, U2, "状況")
    assert mine not in listing and "まだありません" in listing
    missing = await say(line_client, line_api, U1, "2026-999999")
    assert "見つかりませんでした" in missing


async def test_double_tap_on_send_gives_the_same_receipt(line_client, line_api):
    await say(line_client, line_api, U1, "バス停に屋根をつけてほしいです。")
    data = postback_data(line_api, U1, "このまま送信")
    assert await post_events(line_client, line_api, postback_event(U1, data), postback_event(U1, data)) == 200
    await settle(line_client)
    texts = line_api.delivered_to(U1)[-2:]
    first, second = receipts_in(texts)
    assert first == second and "すでに受け付けています" in texts[1]
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 1


async def test_unknown_stale_and_hostile_postbacks_get_a_polite_message(line_client, line_api):
    await say(line_client, line_api, U1, "歩道の段差が危ないです。")
    good = postback_data(line_api, U1, "このまま送信")
    draft_id = good.rsplit("d=", 1)[1]
    hostile = ["", "a=send", "a=drop&d=" + draft_id, "a=consent&v=maybe&d=" + draft_id,
               "a=send&d=../../etc/passwd", "a=send&d=" + draft_id + "&d=" + draft_id,
               "a=send&d=" + "x" * 400, "a=send&d=AAAAAAAAAAAAAAAA", "%ff%fe", "a=send&d=" + draft_id + "&x=1"]
    for data in hostile:
        assert await post_events(line_client, line_api, postback_event(U1, data)) == 200
    await settle(line_client)
    answers = line_api.delivered_to(U1)[-len(hostile):]
    assert all("使えなくなりました" in t for t in answers)
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 0
    # Another user's draft id is stale for me and does not touch their draft.
    assert await post_events(line_client, line_api, postback_event(U2, good)) == 200
    await settle(line_client)
    assert "使えなくなりました" in line_api.delivered_to(U2)[-1]
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 0
    # The rightful owner can still send it.
    assert await post_events(line_client, line_api, postback_event(U1, good)) == 200
    await settle(line_client)
    assert receipts_in([line_api.delivered_to(U1)[-1]])


async def test_stickers_and_videos_get_an_explanation(line_client, line_api):
    assert await post_events(line_client, line_api, sticker_event(U1), video_event(U1)) == 200
    await settle(line_client)
    sticker, video = line_api.delivered_to(U1)
    assert "スタンプありがとうございます" in sticker and "文章で" in sticker
    assert "動画・音声・ファイルは受け付けていません" in video
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts") == 0


async def test_cancel_discards_the_draft(line_client, line_api):
    await say(line_client, line_api, U1, "ごみの収集日を知りたいです。")
    assert "取り消しました" in await tap(line_client, line_api, U1, "取り消す")
    assert "取り消す下書きはありません" in await say(line_client, line_api, U1, "キャンセル")
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts WHERE state = 'cancelled'") == 1
    # The next message starts afresh.
    assert "ご意見ありがとうございます" in await say(line_client, line_api, U1, "公園の遊具を増やしてください。")


async def test_too_long_text_is_refused_kindly(line_client, line_api):
    answer = await say(line_client, line_api, U1, "あ" * 4001)
    assert "4000文字まで" in answer
    await say(line_client, line_api, U1, "い" * 3000)
    answer = await say(line_client, line_api, U1, "う" * 1500)
    assert "4000文字まで" in answer
    done = await tap(line_client, line_api, U1, "このまま送信")
    [receipt_no] = receipts_in([done])
    async with line_client.app[keys.DB].read() as conn:
        sub = await subs.by_receipt(conn, receipt_no)
    assert sub is not None and sub.text == "い" * 3000


async def test_rate_limit_per_line_user_is_friendly(make_line_client, line_settings, line_api):
    from dataclasses import replace

    client = await make_line_client(replace(line_settings, rate_limit=1))
    await say(client, line_api, U1, "一件目のご意見です。道路の穴。")
    assert receipts_in([await tap(client, line_api, U1, "このまま送信")])
    await say(client, line_api, U1, "二件目のご意見です。公園の草。")
    limited = await tap(client, line_api, U1, "このまま送信")
    assert "少しお待ちいただいています" in limited and not receipts_in([limited])
    # Another resident is not affected by U1's limit.
    await say(client, line_api, U2, "別の人のご意見です。")
    assert receipts_in([await tap(client, line_api, U2, "このまま送信")])


async def test_redelivered_send_makes_no_second_submission_or_reply(line_client, line_api):
    await say(line_client, line_api, U1, "児童館の開館日を増やしてください。")
    ev = postback_event(U1, postback_data(line_api, U1, "このまま送信"))
    assert await post_events(line_client, line_api, ev) == 200
    await settle(line_client)
    replies_before = len(line_api.of("reply"))
    redelivered = dict(ev, deliveryContext={"isRedelivery": True})
    assert await post_events(line_client, line_api, redelivered) == 200
    await settle(line_client)
    assert len(line_api.of("reply")) == replies_before and line_api.of("push") == []
    assert len(receipts_in(line_api.delivered_to(U1))) == 1
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 1
