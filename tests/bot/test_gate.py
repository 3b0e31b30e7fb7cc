"""Acknowledgements first (bot/gate.py): processing waits while webhook requests are in flight, boundedly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from bot.gate import IntakeGate
from meyasubako import keys
from tests.bot.conftest import FAST, count, post_events, settle
from tests.line_double import text_event, user_id


async def test_quiet_waits_for_the_last_request_to_leave_and_never_past_the_bound():
    gate = IntakeGate(wait_max=0.4)
    await asyncio.wait_for(gate.quiet(0.0), 0.05)  # nothing in flight: no wait at all
    gate.enter()
    gate.enter()
    waiter = asyncio.create_task(gate.quiet(0.0))
    await asyncio.sleep(0.05)
    gate.leave()
    await asyncio.sleep(0.05)
    assert not waiter.done()  # one request still in flight
    gate.leave()
    await asyncio.wait_for(waiter, 0.1)
    gate.enter()  # a request that never ends (a stuck client): the wait is bounded
    t0 = time.monotonic()
    await gate.quiet(0.1)  # the event is already 0.1 s old: at most 0.3 s more
    assert 0.25 <= time.monotonic() - t0 < 0.39
    t0 = time.monotonic()
    await gate.quiet(5.0)  # an old event (recovered after a restart) does not wait
    assert time.monotonic() - t0 < 0.05
    assert gate.waits == 2
    gate.leave()
    gate.leave()  # an extra leave cannot make the count negative and block processing forever
    assert gate.in_flight == 0
    await asyncio.wait_for(gate.quiet(0.0), 0.05)


async def test_events_wait_while_acknowledgements_are_in_flight(make_line_client, line_api):
    client = await make_line_client(tuning=replace(FAST, intake_wait_max=30.0))
    gate = client.app[keys.LINE_BOT].gate
    u = user_id(1)
    gate.enter()  # as a webhook request being acknowledged does
    try:
        assert await post_events(client, line_api, text_event(u, "歩道の段差をなくしてください。")) == 200
        await asyncio.sleep(0.4)
        assert await count(client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NULL") == 1
        assert line_api.requests == []
    finally:
        gate.leave()
    await settle(client, timeout=5)
    assert "ご意見ありがとうございます" in line_api.delivered_to(u)[-1]


async def test_processing_is_not_starved_by_a_request_that_never_ends(make_line_client, line_api):
    client = await make_line_client(tuning=replace(FAST, intake_wait_max=0.5))
    gate = client.app[keys.LINE_BOT].gate
    gate.enter()
    try:
        t0 = time.monotonic()
        assert await post_events(client, line_api, text_event(user_id(2), "公園の照明が暗いです。")) == 200
        await line_api.wait_for(lambda: len(line_api.delivered_to(user_id(2))) == 1, timeout=5)
        assert 0.4 <= time.monotonic() - t0 < 4
    finally:
        gate.leave()


async def test_a_burst_of_webhooks_is_acknowledged_then_every_event_is_answered(make_line_client, line_api):
    client = await make_line_client()
    users = [user_id(100 + i) for i in range(40)]
    statuses = await asyncio.gather(*(post_events(client, line_api, text_event(u, f"ご意見{i}です。"))
                                      for i, u in enumerate(users)))
    assert set(statuses) == {200}
    assert client.app[keys.LINE_BOT].gate.in_flight == 0
    await settle(client, timeout=20)
    assert await count(client, "SELECT COUNT(*) FROM line_inbox WHERE processed_at IS NOT NULL") == 40
    assert all(len(line_api.delivered_to(u)) == 1 for u in users)
