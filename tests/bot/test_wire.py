"""What goes over the wire to LINE: the hand-built messages and calls match line-bot-sdk's own.

The bot builds messages as dicts and calls reply/push/content with plain aiohttp (bot/line_api.py)
instead of the SDK's pydantic models and client, for speed. Here the SDK is the reference: the
same message built with its models gives the same JSON, and the request it would send has the
same body; the LINE double on loopback checks the path, the bearer token and the retry key.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from linebot.v3.messaging import (
    CameraAction,
    CameraRollAction,
    LocationAction,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)

from bot import messages, postback
from bot.line_api import ContentError, LineApi, outcome_of
from tests.bot.conftest import FAST
from tests.line_double import ACCESS_TOKEN, LineDouble, user_id

DRAFT = "AbCdEfGhIjKlMnOp"
U1 = user_id(1)


def _sdk_items(consent: bool | None) -> list[QuickReplyItem]:
    """The quick replies as the SDK models built them before (the reference shape)."""
    def pb(label: str, data: str) -> QuickReplyItem:
        return QuickReplyItem(action=PostbackAction(label=label, data=data, display_text=label))

    items: list[QuickReplyItem] = []
    if consent is None:
        items += [pb("公開してよい", postback.encode("consent", DRAFT, "yes")),
                  pb("公開しない", postback.encode("consent", DRAFT, "no"))]
    else:
        items.append(pb("送信する", postback.encode("send", DRAFT)))
    items += [QuickReplyItem(action=LocationAction(label="位置情報を送る")),
              QuickReplyItem(action=CameraAction(label="写真を撮る")),
              QuickReplyItem(action=CameraRollAction(label="写真を選ぶ"))]
    if consent is None:
        items.append(pb("このまま送信", postback.encode("send", DRAFT)))
    else:
        other = ("公開しない", "no") if consent else ("公開してよい", "yes")
        items.append(pb(other[0], postback.encode("consent", DRAFT, other[1])))
    items.append(pb("取り消す", postback.encode("cancel", DRAFT)))
    return items


@pytest.mark.parametrize("consent", [None, True, False])
def test_text_with_quick_replies_is_what_the_sdk_builds(consent):
    body = "ご意見ありがとうございます。\n" + "あ" * 6000  # longer than LINE's 5000: cut like before
    ours = messages.text(body, messages.draft_items(DRAFT, consent))
    sdk = TextMessage(text=body[:messages.MAX_LINE_TEXT], quick_reply=QuickReply(items=_sdk_items(consent))).to_dict()
    assert ours == sdk
    assert len(ours["text"]) == messages.MAX_LINE_TEXT
    # The SDK accepts it back (field names, types, label lengths) and gives the same JSON.
    assert TextMessage.from_dict(ours).to_dict() == ours
    assert json.loads(json.dumps(ours)) == ours


def test_plain_text_has_no_quick_reply_key():
    assert messages.text("こんにちは") == TextMessage(text="こんにちは").to_dict() == {"type": "text", "text": "こんにちは"}
    assert "quickReply" not in messages.text("x", [])


async def _api(double: LineDouble, **tuning: Any) -> LineApi:
    api = LineApi(ACCESS_TOKEN, double.base_url, replace(FAST, **tuning))
    await api.open()
    return api


async def test_reply_and_push_send_the_sdk_request_bodies(line_api):
    api = await _api(line_api)
    try:
        msgs = [messages.text("一通目"), messages.text("二通目", messages.draft_items(DRAFT, None))]
        line_api.reply_owner["tok-1"] = U1
        out = await api.reply("tok-1", msgs)
        assert out.sent and out.status == 200 and not out.retry
        key = str(uuid.uuid4())
        out = await api.push(U1, msgs, key)
        assert out.sent and out.status == 200
    finally:
        await api.close()
    reply, push = line_api.of("reply")[0], line_api.of("push")[0]
    assert reply.path == "/v2/bot/message/reply" and push.path == "/v2/bot/message/push"
    assert reply.body == ReplyMessageRequest.from_dict({"replyToken": "tok-1", "messages": msgs}).to_dict()
    assert push.body == PushMessageRequest.from_dict({"to": U1, "messages": msgs}).to_dict()
    assert push.retry_key == key and reply.retry_key is None
    for r in (reply, push):
        assert r.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert r.headers["Content-Type"] == "application/json"


async def test_a_lone_surrogate_in_a_message_is_sent_escaped_not_an_exception(line_api):
    api = await _api(line_api)
    try:
        out = await api.push(U1, [messages.text("壊れた文字\ud800です")], str(uuid.uuid4()))
    finally:
        await api.close()
    assert out.sent
    assert line_api.of("push")[0].texts == ["壊れた文字\ud800です"]


async def test_http_answers_are_classified_like_before(line_api):
    api = await _api(line_api)
    try:
        line_api.fail("push", status=503, retry_after="7")
        out = await api.push(U1, [messages.text("a")], str(uuid.uuid4()))
        assert (out.sent, out.retry, out.status, out.retry_after) == (False, True, 503, 7.0)
        line_api.fail("push", status=400, body={"message": "The property, 'to', in the request body is invalid"})
        out = await api.push(U1, [messages.text("a")], str(uuid.uuid4()))
        assert (out.sent, out.retry, out.status) == (False, False, 400) and "'to'" in out.error
        key = str(uuid.uuid4())
        assert (await api.push(U1, [messages.text("a")], key)).sent
        again = await api.push(U1, [messages.text("a")], key)
        assert again.sent and again.already_accepted and again.status == 409
        line_api.reject_reply_token("bad-token")
        out = await api.reply("bad-token", [messages.text("a")])
        assert out.invalid_reply_token and not out.retry and not out.sent
    finally:
        await api.close()
    wrong = LineApi("not-the-token", line_api.base_url, FAST)
    await wrong.open()
    try:
        out = await wrong.push(U1, [messages.text("a")], str(uuid.uuid4()))
    finally:
        await wrong.close()
    assert (out.sent, out.retry, out.status) == (False, False, 401)


def test_outcome_of_every_status_class():
    assert outcome_of(200, b"", {}).sent and outcome_of(204, b"junk", {}).sent  # a 2xx body is never needed
    assert outcome_of(429, b"{}", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after == 0.0
    assert outcome_of(500, b"not json", {"Retry-After": "soon"}).retry_after is None
    for status in (301, 302, 400, 401, 403, 404, 413):
        out = outcome_of(status, b'{"message": "no"}', {})
        assert not out.sent and not out.retry and out.status == status
    nested = b"[" * 100_000  # a hostile error body is an error text, not a RecursionError
    assert outcome_of(500, nested, {}).retry


async def _serve(handler) -> tuple[web.AppRunner, str]:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_redirect_is_not_followed_and_a_slow_answer_is_a_retry():
    seen: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if request.path.endswith("/push"):
            await asyncio.sleep(1)
            return web.json_response({})
        raise web.HTTPFound("/elsewhere")

    runner, url = await _serve(handler)
    api = LineApi(ACCESS_TOKEN, url, replace(FAST, request_timeout=0.3))
    await api.open()
    try:
        out = await api.reply("tok", [messages.text("a")])
        assert (out.sent, out.retry, out.status) == (False, False, 302)
        out = await api.push(U1, [messages.text("a")], str(uuid.uuid4()))
        assert (out.sent, out.retry, out.status, out.error) == (False, True, None, "timeout")
    finally:
        await api.close()
        await runner.cleanup()
    assert seen == ["/v2/bot/message/reply", "/v2/bot/message/push"]  # no request to /elsewhere


async def test_content_download_streams_and_stops_at_the_cap(line_api):
    api = await _api(line_api, max_image_bytes=1000)
    try:
        line_api.add_content("111", b"x" * 1000)
        assert await api.content("111") == b"x" * 1000
        line_api.add_content("222", b"x" * 1001)
        with pytest.raises(ContentError) as exc:
            await api.content("222")
        assert exc.value.reason == "too_large"
        with pytest.raises(ContentError) as exc:
            await api.content("333")  # unknown id: 404
        assert exc.value.reason == "unavailable" and "404" in str(exc.value)
        with pytest.raises(ContentError):
            await api.content("../../push")  # quoted into one path segment, never another endpoint
    finally:
        await api.close()
    assert [r.path for r in line_api.of("content")][:2] == ["/v2/bot/message/111/content", "/v2/bot/message/222/content"]
    assert line_api.of("push") == []


async def test_content_without_length_is_capped_while_reading():
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # chunked: no Content-Length
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"y" * 1000)
        await resp.write_eof()
        return resp

    runner, url = await _serve(handler)
    api = LineApi(ACCESS_TOKEN, url, replace(FAST, max_image_bytes=10_000))
    await api.open()
    try:
        with pytest.raises(ContentError) as exc:
            await api.content("123")
        assert exc.value.reason == "too_large"
    finally:
        await api.close()
        await runner.cleanup()
