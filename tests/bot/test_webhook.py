"""The webhook's front door: signatures, the Verify ping, size caps, dedup of redeliveries."""

from __future__ import annotations

import json

from tests.bot.conftest import count, post_events, settle
from tests.line_double import body_of, follow_event, sign, text_event, user_id

BOTH_BACKENDS = True  # tests/conftest.py: each test runs on SQLite and on PostgreSQL

U1 = user_id(1)


async def test_missing_or_wrong_signature_is_400_and_nothing_is_stored(line_client, line_api):
    ev = text_event(U1, "公園のベンチが壊れています")
    assert await post_events(line_client, line_api, ev, signature="") == 400
    assert await post_events(line_client, line_api, ev, signature="bm90IGEgc2lnbmF0dXJl") == 400
    body = body_of(ev)
    # Signed with another secret, and a valid signature of a different body.
    assert await post_events(line_client, line_api, ev, signature=sign(body, "another-secret")) == 400
    tampered = body.replace("ベンチ".encode(), "トイレ".encode())
    resp = await line_client.post("/line/webhook", data=tampered, headers={"X-Line-Signature": sign(body)})
    assert resp.status == 400
    resp = await line_client.post("/line/webhook", data=body)  # no header at all
    assert resp.status == 400
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 0
    assert line_api.requests == []


async def test_verify_ping_with_no_events_is_200(line_client, line_api):
    body = json.dumps({"destination": "U" + "f" * 32, "events": []}).encode()
    resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
    assert resp.status == 200
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0


async def test_malformed_but_signed_bodies_are_400(line_client):
    for body in (b"not json", b'{"destination": "x"}', b'{"events": "nope"}', "\udcff".encode("utf-8", "surrogatepass"),
                 b"\xff\xfe{}"):
        resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
        assert resp.status == 400, body
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0


async def test_oversized_body_is_refused_before_parsing(line_client):
    body = body_of(text_event(U1, "あ" * 10)) + b" " * (1024 * 1024 + 1)
    resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
    assert resp.status == 413

    async def chunks():  # no Content-Length: the cap applies while reading
        for _ in range(20):
            yield b" " * 65536

    resp = await line_client.post("/line/webhook", data=chunks(), headers={"X-Line-Signature": "x"})
    assert resp.status == 413
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0


async def test_without_line_settings_the_webhook_is_503_and_the_site_works(client):
    body = body_of(text_event(U1, "こんにちは"))
    resp = await client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
    assert resp.status == 503
    assert (await client.get("/submit")).status == 200
    assert (await client.get("/")).status == 200


async def test_redelivered_event_creates_nothing_twice(line_client, line_api):
    ev = follow_event(U1)
    assert await post_events(line_client, line_api, ev) == 200
    again = dict(ev, deliveryContext={"isRedelivery": True})
    assert await post_events(line_client, line_api, again) == 200
    assert await post_events(line_client, line_api, again, ev) == 200  # twice in one body too
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 1
    assert len(line_api.of("reply", status=200)) == 1


async def test_standby_and_group_events_are_stored_but_not_answered(line_client, line_api):
    standby = text_event(U1, "これは待機中のチャネル宛てです", mode="standby")
    group = text_event(user_id(2), "グループでの発言", source_type="group")
    assert await post_events(line_client, line_api, standby, group) == 200
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NOT NULL") == 2
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts") == 0
    assert line_api.requests == []


async def test_event_missing_sdk_required_fields_still_gets_a_polite_answer(line_client, line_api):
    ev = text_event(U1, "quoteToken のないメッセージ")
    del ev["message"]["quoteToken"]  # the SDK turns this into an UnknownEvent
    assert await post_events(line_client, line_api, ev) == 200
    await settle(line_client)
    texts = line_api.delivered_to(U1)
    assert len(texts) == 1 and "受け付けていません" in texts[0]
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts") == 0


async def test_event_without_webhook_event_id_is_refused_not_half_stored(line_client, line_api):
    # The SDK cannot parse such a body at all; acknowledging it would drop the events silently.
    ok = text_event(U1, "正しいイベント")
    ev = text_event(U1, "ID のないイベント")
    del ev["webhookEventId"]
    assert await post_events(line_client, line_api, ok, ev) == 400
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0
