"""Many residents at once: every one gets their own receipt, webhooks are acknowledged quickly."""

from __future__ import annotations

import asyncio
import logging
import time

from tests.bot.conftest import count, post_events, postback_data, receipts_in, settle
from tests.line_double import postback_event, text_event, user_id

log = logging.getLogger("tests.bot.load")
USERS = 40


async def test_many_users_at_once(line_client, line_api):
    users = [user_id(1000 + i) for i in range(USERS)]
    latencies: list[float] = []

    async def post(*events):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        assert await post_events(line_client, line_api, *events) == 200
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    # Each resident writes two messages (two webhooks, as LINE sends them), all residents at once.
    await asyncio.gather(*(post(text_event(u, f"{i}番の公園の遊具が壊れています。")) for i, u in enumerate(users)))
    await asyncio.gather(*(post(text_event(u, "子どもが遊べず困っています。")) for u in users))
    await settle(line_client, timeout=30)
    await asyncio.gather(*(post(postback_event(u, postback_data(line_api, u, "このまま送信"))) for u in users))
    await settle(line_client, timeout=30)
    elapsed = time.perf_counter() - start

    receipts = {u: receipts_in(line_api.delivered_to(u)) for u in users}
    assert all(len(r) == 1 for r in receipts.values()), receipts
    assert len({r[0] for r in receipts.values()}) == USERS
    assert await count(line_client, "SELECT COUNT(*) FROM submissions") == USERS
    # Both messages of each resident joined their own submission, in order.
    assert await count(line_client, "SELECT COUNT(*) FROM submissions WHERE text LIKE '%壊れています。\n子どもが%'") == USERS
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    log.warning("line load: users=%d webhooks=%d elapsed=%.2fs ack_p95=%.3fs ack_max=%.3fs",
                USERS, len(latencies), elapsed, p95, latencies[-1])
    assert latencies[-1] < 2.0  # LINE's budget for the acknowledgement
