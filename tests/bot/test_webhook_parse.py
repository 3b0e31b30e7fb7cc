"""The webhook's cheap event check agrees with line-bot-sdk's WebhookParser.

``bot.webhook.check_event`` replaced the SDK parse on the request path (it built pydantic models
for every event before the 200). The SDK stays the reference, on generated events (valid ones of
every kind the bot handles, then with fields removed or replaced by any JSON value):

* a body is refused exactly when one of its events fails the fields the SDK requires of every
  event (what its ``UnknownEvent`` fallback validates);
* an event counts as known exactly when the SDK's ``Event.from_dict`` parses it (the check says
  "known type", the inbox processor parses it later and treats a failure as unknown);
* so whenever the SDK's parser accepts a body, the verdicts are identical. The one deliberate
  difference: the SDK's parser crashes with KeyError/TypeError on some broken nested objects of a
  known type (a message without its ``type``), which made the whole body a 400 and lost its other
  events; such an event is now stored and handled as an unknown one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from linebot.v3.models import UnknownEvent
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import Event

from bot.webhook import check_event
from tests.bot.conftest import count, post_events, settle
from tests.line_double import (
    CHANNEL_SECRET,
    _event,
    follow_event,
    image_event,
    location_event,
    postback_event,
    sign,
    sticker_event,
    text_event,
    unfollow_event,
    user_id,
)

U1 = user_id(1)
BASES = [
    text_event(U1, "公園の街灯が切れています"),
    text_event(U1, "グループ", source_type="group"),
    location_event(U1, 35.68, 139.76, "東京都千代田区"),
    image_event(U1, "12345"),
    sticker_event(U1),
    follow_event(U1, unblocked=True),
    unfollow_event(U1),
    postback_event(U1, "a=send&d=AbCdEfGhIjKlMnOp"),
    _event("beacon", U1, beacon={"hwid": "d41d8cd98f", "type": "enter"}),
    _event("somethingNew", U1),
]
FIELDS = ["type", "timestamp", "mode", "webhookEventId", "deliveryContext", "source", "replyToken", "message",
          "follow", "postback"]
NESTED = [("deliveryContext", "isRedelivery"), ("source", "type"), ("source", "userId"), ("message", "type"),
          ("message", "text"), ("message", "id")]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "message", "follow", "user", "group", "active", "standby", "x", "ACTIVE"])
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    ev = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["drop", "set", "nested_drop", "nested_set"]))
        if how in ("drop", "set"):
            key = draw(st.sampled_from(FIELDS))
            if how == "drop":
                ev.pop(key, None)
            else:
                ev[key] = draw(json_values)
        else:
            outer, inner = draw(st.sampled_from(NESTED))
            if isinstance(ev.get(outer), dict):
                if how == "nested_drop":
                    ev[outer].pop(inner, None)
                else:
                    ev[outer][inner] = draw(json_values)
    if draw(st.integers(0, 20)) == 0:
        return draw(json_values)  # not an event object at all
    return ev


def sdk_verdict(evs: list[Any]) -> list[bool] | None:
    """None: the SDK's parser refuses the body; else per event: parsed as its own (known) type."""
    body = json.dumps({"destination": "U" + "f" * 32, "events": evs})
    try:
        payload = WebhookParser(CHANNEL_SECRET).parse(body, sign(body.encode()), as_payload=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return [type(e).__name__ != "UnknownEvent" for e in payload.events]


def our_verdict(evs: list[Any]) -> list[bool] | None:
    try:
        known = [check_event(ev) for ev in evs]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    out = []
    for ev, k in zip(evs, known, strict=True):
        if k:  # what the inbox processor does before handing the event to the conversation
            try:
                Event.from_dict(ev)
            except (ValueError, TypeError, KeyError):
                k = False
        out.append(k)
    return out


def expected_verdict(evs: list[Any]) -> list[bool] | None:
    """The reference, from the SDK's models: base fields (UnknownEvent) and the specific model."""
    out = []
    for ev in evs:
        try:
            UnknownEvent.new_from_json_dict(ev)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        try:
            Event.from_dict(ev)
            out.append(True)
        except (ValueError, KeyError, TypeError, AttributeError):
            out.append(False)
    return out


SEEN: dict[str, int] = {}


@settings(max_examples=500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=3))
def test_check_event_agrees_with_the_sdk_parser(evs):
    expected, sdk = expected_verdict(evs), sdk_verdict(evs)
    assert our_verdict(evs) == expected
    if sdk is not None:
        assert sdk == expected  # the parser's own verdict, whenever it has one
    kind = ("refused" if expected is None else "sdk_crashed" if sdk is None
            else "unknown" if not all(expected) else "known")
    SEEN[kind] = SEEN.get(kind, 0) + 1


def test_the_generator_reaches_every_verdict():
    # Runs after the property above (file order): a generator that never produced, say, a refused
    # body would make that test pass without checking anything.
    if not SEEN:
        test_check_event_agrees_with_the_sdk_parser()
    assert {"refused", "sdk_crashed", "unknown", "known"} <= set(SEEN), SEEN
    assert min(SEEN.values()) >= 3, SEEN


def test_the_valid_events_the_bot_handles_are_all_known_and_hand_picked_refusals():
    assert [check_event(ev) for ev in BASES] == [True] * 9 + [False]
    good = text_event(U1, "a")
    for bad in ({**good, "timestamp": True}, {**good, "timestamp": "1"}, {**good, "mode": "ACTIVE"},
                {**good, "webhookEventId": 1}, {**good, "deliveryContext": {"isRedelivery": 0}},
                {**good, "source": {"userId": U1}}, {**good, "source": "user"}, {**good, "type": None}, [good]):
        assert our_verdict([bad]) is None and sdk_verdict([bad]) is None, bad
    # Absent or null source: the SDK parses it (Optional), so does the check.
    no_source = {k: v for k, v in good.items() if k != "source"}
    assert check_event(no_source) and check_event({**good, "source": None})


async def test_a_known_type_with_a_broken_body_is_recorded_like_an_unknown_event(line_client, line_api):
    # A follow event whose "follow" is not an object: the SDK's FollowEvent refuses it. It is
    # stored (acknowledged) and closed without an answer, as the SDK's UnknownEvent was.
    ev = follow_event(U1)
    ev["follow"] = "yes"
    assert await post_events(line_client, line_api, ev) == 200
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox WHERE outcome = 'ignored:unknown:follow'") == 1
    assert line_api.requests == []


async def test_a_message_the_sdk_parser_crashed_on_is_stored_and_answered_with_the_rest(line_client, line_api):
    broken = text_event(U1, "型のないメッセージ")
    del broken["message"]["type"]  # WebhookParser raised KeyError here: the whole body was a 400
    assert sdk_verdict([broken]) is None
    ok = text_event(user_id(2), "同じ本文の正しいメッセージです。")
    assert await post_events(line_client, line_api, broken, ok) == 200
    await settle(line_client)
    assert await count(line_client, "SELECT COUNT(*) FROM line_inbox") == 2
    assert "受け付けていません" in line_api.delivered_to(U1)[-1]  # the polite answer to an unknown message
    assert "ご意見ありがとうございます" in line_api.delivered_to(user_id(2))[-1]
