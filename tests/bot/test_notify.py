"""The resident is told in the same chat when the answer is out (publish, or close with a reply)."""

from __future__ import annotations

from bot import messages
from tests.bot.conftest import outbox_rows, receipts_in, settle
from tests.bot.test_conversation import say, tap
from tests.conftest import add_user, admin_post, login, receipt_of, submit
from tests.line_double import user_id

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1 = user_id(1)
ANSWER = "現地を確認し、12月中に補修します。ご連絡ありがとうございました。"


async def line_submission(client, double, text, consent_label):  # type: ignore[no-untyped-def]
    await say(client, double, U1, text)
    await tap(client, double, U1, consent_label)
    [receipt_no] = receipts_in([await tap(client, double, U1, "送信する")])
    return receipt_no


async def test_publish_pushes_the_answer_with_a_link(line_client, line_api):
    receipt_no = await line_submission(line_client, line_api, "市道に大きな穴があいています。", "公開してよい")
    await add_user(line_client.app, "koucho", "approver")
    await login(line_client, "koucho")
    assert (await admin_post(line_client, receipt_no, "answer", {"body": ANSWER})).status == 200
    assert line_api.of("push") == []  # a draft answer is not sent
    resp = await admin_post(line_client, receipt_no, "publish", {"summary": "市道の穴の補修"})
    assert resp.status == 200
    await settle(line_client)
    [push] = line_api.of("push")
    assert push.to == U1 and push.status == 200
    [text] = push.texts
    assert f"受付番号 {receipt_no}" in text and ANSWER in text
    assert f"http://meyasubako.example.jp/voices/{receipt_no}" in text
    # Taking it off the board afterwards does not send a second notice.
    assert (await admin_post(line_client, receipt_no, "close", {"reason": "duplicate"})).status == 200
    await settle(line_client)
    assert len(line_api.of("push")) == 1
    [row] = [r for r in await outbox_rows(line_client, U1) if r.kind == "push"]
    assert row.submission_id is not None and row.status == "sent"


async def test_closing_a_private_item_with_an_answer_sends_the_answer(line_client, line_api):
    receipt_no = await line_submission(line_client, line_api, "隣の家の騒音に困っています。", "公開しない")
    await add_user(line_client.app, "koucho", "approver")
    await login(line_client, "koucho")
    await admin_post(line_client, receipt_no, "answer", {"body": "担当課から状況を確認します。"})
    # Closing "with a reply" needs the answer's 決裁 first; a plain close sends nothing.
    assert (await admin_post(line_client, receipt_no, "close", {"reason": "private", "reply": "1"})).status == 400
    await settle(line_client)
    assert line_api.of("push") == []
    assert (await admin_post(line_client, receipt_no, "approve", {})).status == 200
    assert (await admin_post(line_client, receipt_no, "close", {"reason": "private", "reply": "1"})).status == 200
    await settle(line_client)
    [push] = line_api.of("push")
    assert "回答です" in push.texts[0] and "担当課から状況を確認します。" in push.texts[0]
    assert "/voices/" not in push.texts[0]  # not on the board: no link


async def test_closing_without_an_answer_sends_nothing(line_client, line_api):
    receipt_no = await line_submission(line_client, line_api, "テストです。", "公開しない")
    await add_user(line_client.app, "koucho", "approver")
    await login(line_client, "koucho")
    assert (await admin_post(line_client, receipt_no, "close", {"reason": "mischief"})).status == 200
    await settle(line_client)
    assert line_api.of("push") == []


async def test_web_submissions_are_not_pushed(line_client, line_api):
    _, html = await submit(line_client, "図書館の開館時間を延ばしてください。")
    receipt_no = receipt_of(html)
    await add_user(line_client.app, "koucho", "approver")
    await login(line_client, "koucho")
    await admin_post(line_client, receipt_no, "route", {"section": "education"})
    await admin_post(line_client, receipt_no, "answer", {"body": ANSWER})
    await admin_post(line_client, receipt_no, "publish", {"summary": "図書館の開館時間"})
    await settle(line_client)
    assert line_api.of("push") == [] and await outbox_rows(line_client) == []


def test_long_answers_fit_in_one_line_message():
    long = "回答" * 4000
    text = messages.notification("2026-000001", "published", long, "https://city.example.jp")
    assert len(text) <= messages.MAX_LINE_TEXT
    assert text.endswith("https://city.example.jp/voices/2026-000001") and "続きは掲示板で" in text
    text = messages.notification("2026-000001", "closed", long, "https://city.example.jp")
    assert len(text) <= messages.MAX_LINE_TEXT and text.endswith("（以下省略）")
    short = messages.notification("2026-000001", "published", "はい。", "")
    assert short == "受付番号 2026-000001 のご意見に回答しました。\n\nはい。"
