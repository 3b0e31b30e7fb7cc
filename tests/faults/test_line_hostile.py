"""Hostile input at ``POST /line/webhook`` beyond what tests/bot/test_webhook.py covers.

Covered there: missing/wrong/tampered signature, malformed signed bodies, the 1 MiB cap (with and
without Content-Length), a redelivered event, standby/group sources; the per-user rate limit is in
tests/bot/test_conversation.py. Here: forged signatures of odd shapes, the same body many times at
once, event types nobody knows, thousands of nested brackets, lone surrogates, a body full of events.
Whatever comes in: never a 500, nothing half-stored, and the resident's next message still works.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.bot.conftest import count, post_events, settle
from tests.line_double import _event, body_of, sign, text_event, user_id

U1, U2 = user_id(1), user_id(2)


@pytest.mark.parametrize("header", [
    lambda b: sign(b) + "x",                       # a valid signature with junk after it
    lambda b: "x" + sign(b),                       # (spaces around it are HTTP whitespace, not junk)
    lambda b: sign(b).lower(),
    lambda b: sign(b).rstrip("="),                 # padding stripped
    lambda b: sign(b)[:-4] + "AAA=",
    lambda b: sign(b + b" "),                      # a valid signature of a slightly different body
    lambda b: sign(b, secret=""),
    lambda b: "A" * 10_000,                        # absurdly long
    lambda b: sign(b).encode().hex(),              # hex instead of base64
    lambda b: "sha256=" + sign(b),
])
async def test_forged_signatures_of_any_shape_store_nothing(line_client, line_api, header):
    body = body_of(text_event(U1, "偽の署名のイベント"))
    resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": header(body)})
    assert resp.status == 400
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0
    assert line_api.requests == []


async def test_the_same_body_many_times_at_once_has_one_effect(line_client, line_api):
    ev = text_event(U1, "同じ本文が二十回同時に届いた場合のテストです。")
    statuses = await asyncio.gather(*(post_events(line_client, line_api, ev) for _ in range(20)))
    assert set(statuses) == {200}
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 1
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts") == 1
    assert await count(line_client, "SELECT COUNT(*) FROM outbox") == 1
    assert len(line_api.delivered_to(U1)) == 1


async def test_event_types_nobody_knows_are_stored_and_never_break_anything(line_client, line_api):
    weird = [
        _event("membership", U1, membership={"type": "joined", "membershipId": 3}),
        _event("beacon", U1, beacon={"hwid": "d41d8cd98f", "type": "enter"}),
        _event("thingsDeviceLink", U1),
        _event("somethingFromTheFuture", U1, payload={"nested": [{"x": [1, 2, {"y": None}]}]}),
        _event("message", U1, message={"id": "1", "type": "hologram", "quoteToken": "q"}),
        _event("message", U1, message={"id": "2", "type": "text", "text": 12345, "quoteToken": "q"}),
        _event("postback", U1, postback={"data": {"not": "a string"}}),
        _event("postback", U1, postback={"data": "a=send&d=" + "x" * 16}),
        _event("follow", U1, follow="yes"),
    ]
    for ev in weird:
        assert await post_events(line_client, line_api, ev) in (200, 400), ev["type"]
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 0
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == 0
    # Nothing unknown produced more than one polite message per event, none of them an error page.
    texts = line_api.delivered_to(U1)
    assert len(texts) <= len(weird) and not any("Traceback" in t or "<html" in t for t in texts)
    # ... and the resident can still write in.
    assert await post_events(line_client, line_api, text_event(U1, "普通のメッセージです。")) == 200
    await settle(line_client)
    assert "ご意見ありがとうございます" in line_api.delivered_to(U1)[-1]


@pytest.mark.parametrize("where", ["top", "events", "event", "text"])
async def test_ten_thousand_nested_brackets_are_400_not_500(line_client, line_api, where):
    deep = "[" * 10_000 + "]" * 10_000
    if where == "top":
        raw = deep
    elif where == "events":
        raw = '{"destination": "U' + "f" * 32 + '", "events": ' + deep + "}"
    else:
        ev = text_event(U1, "PLACEHOLDER")
        if where == "event":
            ev["message"]["extra"] = "PLACEHOLDER"
        raw = body_of(ev).decode().replace('"PLACEHOLDER"', deep)
    body = raw.encode()
    resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
    assert resp.status == 400, await resp.text()
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 0


async def test_moderately_nested_junk_inside_an_event_is_handled(line_client, line_api):
    # Deep enough to hurt a naive recursive walker, shallow enough for the JSON parser.
    ev = text_event(U1, "入れ子の深いイベント")
    nested: object = "底"
    for _ in range(400):
        nested = {"a": [nested]}
    ev["message"]["extra"] = nested
    assert await post_events(line_client, line_api, ev) in (200, 400)
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 0


@pytest.mark.parametrize("text", ["\ud800", "公園\udfffのベンチ", "\udbff\udbff", "受付番号\ud83d"])
async def test_lone_surrogates_in_a_message_get_a_polite_answer(line_client, line_api, text):
    # JSON can spell a lone surrogate (\\ud800) although UTF-8 cannot carry one.
    body = json.dumps({"destination": "U" + "f" * 32, "events": [text_event(U1, text)]}).encode()
    line_api.reply_owner.update({e["replyToken"]: U1 for e in json.loads(body)["events"]})
    resp = await line_client.post("/line/webhook", data=body, headers={"X-Line-Signature": sign(body)})
    assert resp.status in (200, 400)
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 0
    if resp.status == 200:
        assert len(line_api.delivered_to(U1)) == 1  # an answer, not silence
    assert await post_events(line_client, line_api, text_event(U1, "続けて普通のメッセージです。")) == 200
    await settle(line_client)
    assert "ご意見" in line_api.delivered_to(U1)[-1]


async def test_a_body_full_of_events_is_taken_in_one_go(line_client, line_api):
    users = [user_id(1000 + i) for i in range(50)]
    events = [text_event(u, f"{i}件目のご意見です。") for i, u in enumerate(users)]
    events += [dict(e, deliveryContext={"isRedelivery": True}) for e in events[:10]]  # repeats inside the body
    assert await post_events(line_client, line_api, *events) == 200
    await settle(line_client, timeout=30)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 50
    assert await count(line_client, "SELECT COUNT(*) FROM line_drafts") == 50
    assert all(len(line_api.delivered_to(u)) == 1 for u in users)
