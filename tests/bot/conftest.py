"""Fixtures for the LINE tests: the API double on loopback, the real app wired to it, helpers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import BotTuning
from meyasubako import keys
from meyasubako.app import create_app
from meyasubako.settings import Settings
from storage import line as line_db
from storage import outbox as outbox_db
from tests.conftest import SECRET
from tests.line_double import ACCESS_TOKEN, CHANNEL_SECRET, LineDouble, body_of, sign

# Small timings: retries in milliseconds, the whole LINE suite in seconds.
FAST = BotTuning(request_timeout=0.5, content_timeout=0.5, backoff_base=0.02, backoff_max=0.1,
                 retry_after_max=1.5, poll_interval=0.05, lease=2.0, sweep_interval=0.2, max_attempts=5,
                 max_image_bytes=64 * 1024)

RECEIPT = re.compile(r"受付番号[:：]\s*(\d{4}-\d{6})")


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's HTTP session trusts proxy variables: keep loopback direct.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def line_api():  # type: ignore[no-untyped-def]
    double = LineDouble()
    await double.start()
    yield double
    await double.stop()


@pytest.fixture
def line_settings(db_url: str, backend: str, tmp_path: Path, line_api: LineDouble) -> Settings:
    files = str(tmp_path / "files") if backend == "postgresql" else ""  # SQLite: beside the file
    return Settings(db=db_url, secret_key=SECRET, rate_limit=0, files=files,
                    line_channel_secret=CHANNEL_SECRET, line_channel_access_token=ACCESS_TOKEN,
                    line_api_base=line_api.base_url, base_url="http://meyasubako.example.jp")


LineClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_line_client(aiohttp_client, line_settings: Settings) -> LineClientFactory:  # type: ignore[no-untyped-def]
    async def factory(settings: Settings | None = None, tuning: BotTuning = FAST) -> TestClient:
        app = create_app(settings or line_settings)
        app[keys.LINE_TUNING] = tuning
        return await aiohttp_client(app)

    return factory


@pytest.fixture
async def line_client(make_line_client: LineClientFactory) -> TestClient:
    return await make_line_client()


async def post_events(client: TestClient, double: LineDouble | None, *events: dict[str, Any],
                      signature: str | None = None) -> int:
    body = body_of(*events)
    if double is not None:
        for ev in events:
            if isinstance(ev.get("replyToken"), str):
                double.reply_owner[ev["replyToken"]] = ev["source"]["userId"]
    resp = await client.post("/line/webhook", data=body, headers={
        "X-Line-Signature": sign(body) if signature is None else signature, "Content-Type": "application/json"})
    return resp.status


async def settle(client: TestClient, timeout: float = 10.0) -> None:
    """Wait until every stored event is processed and no outbox row is due (pending retries later
    than the deadline are not waited for)."""
    app = client.app
    bot = app[keys.LINE_BOT]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await bot.inbox.idle()
        async with app[keys.DB].read() as conn:
            pending_events = (await line_db.inbox_counts(conn))["pending"]
            pending_out = (await outbox_db.counts(conn)).get("pending", 0)
        if not pending_events and not pending_out:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not settled: events={pending_events} outbox={pending_out}")


async def outbox_rows(client: TestClient, recipient: str | None = None) -> list[outbox_db.OutboxRow]:
    async with client.app[keys.DB].read() as conn:
        return await outbox_db.rows(conn, recipient=recipient)


async def count(client: TestClient, sql: str, params: tuple[Any, ...] = ()) -> int:
    async with client.app[keys.DB].read() as conn:
        async with conn.execute(sql, params) as cur:
            return int((await cur.fetchone())[0])


def postback_data(double: LineDouble, user: str, label: str) -> str:
    for action in double.last_quick_reply(user):
        if action.get("label") == label and action.get("type") == "postback":
            return str(action["data"])
    raise AssertionError(f"no quick reply {label!r} in {double.last_quick_reply(user)}")


def receipts_in(texts: list[str]) -> list[str]:
    return [m.group(1) for t in texts for m in RECEIPT.finditer(t)]
