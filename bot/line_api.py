"""The LINE Messaging API over plain HTTP: one aiohttp session, JSON bodies, timeouts, classified outcomes.

Nothing here retries: it makes one call and says what happened (sent, retry later, give up, reply
token rejected), and the outbox sender decides.

Why not line-bot-sdk's client (it was used until the latency work of issue #7): every call went
through its pydantic models (``ReplyMessageRequest.from_dict``, ``sanitize_for_serialization``,
response parsing), ~1 ms of CPU per message on the background path that shares the event loop
with webhook acknowledgements; it was the largest item in a profile of ``serve`` under webhook
load. The endpoints, headers and bodies are the same as the SDK's (``tests/bot/test_wire.py``
checks the bodies against the SDK's models), and so are the proxy settings (``trust_env``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config import BotTuning

log = logging.getLogger("meyasubako.bot.api")

API_HOST = "https://api.line.me"             # reply, push
DATA_HOST = "https://api-data.line.me"       # message content (photos)
USER_AGENT = "meyasubako-line-client/1"


@dataclass(frozen=True)
class Outcome:
    sent: bool
    status: int | None = None          # HTTP status LINE answered (None: no answer: timeout, reset)
    retry: bool = False                # worth trying again later
    retry_after: float | None = None   # seconds LINE asked us to wait (429/503 Retry-After)
    error: str = ""
    invalid_reply_token: bool = False  # reply rejected: fall back to a push
    already_accepted: bool = False     # 409 on a push retry: LINE has the message already


class ContentError(Exception):
    """A photo could not be downloaded; ``reason`` is 'too_large' or 'unavailable'."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:  # HTTP-date form
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _message_of(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return str(json.loads(body).get("message", body))[:300]
        except (ValueError, AttributeError, RecursionError):
            return body[:300]
    return ""


def outcome_of(status: int, body: bytes, headers: Any) -> Outcome:
    """What an HTTP answer from LINE means for the outbox (see the sender's docstring)."""
    if 200 <= status < 300:
        return Outcome(sent=True, status=status)
    msg = _message_of(body)
    err = f"HTTP {status}: {msg}" if msg else f"HTTP {status}"
    if status == 409:  # a push retry whose X-Line-Retry-Key LINE already accepted
        return Outcome(sent=True, status=status, already_accepted=True, error=err)
    if status == 429 or status >= 500:
        return Outcome(sent=False, status=status, retry=True, retry_after=_retry_after(headers), error=err)
    if status == 400 and "reply token" in msg.lower():
        return Outcome(sent=False, status=status, invalid_reply_token=True, error=err)
    return Outcome(sent=False, status=status, error=err)  # 400, 401, 403, 3xx...: retrying will not help


def classify(exc: BaseException) -> Outcome:
    """A call that got no HTTP answer: worth retrying (the push carries its retry key)."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Outcome(sent=False, retry=True, error="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Outcome(sent=False, retry=True, error=f"connection: {type(exc).__name__}: {exc}"[:300])
    raise exc


class LineApi:
    """One HTTP session for the process; open in a cleanup_ctx, close at shutdown."""

    def __init__(self, access_token: str, host: str | None, tuning: BotTuning) -> None:
        self.tuning = tuning
        # host=None: LINE's hosts (api.line.me, api-data.line.me for content); a host (a local
        # double) receives every call, as LINE_API_BASE documents.
        base = host.rstrip("/") if host else None
        self._api = base or API_HOST
        self._data = base or DATA_HOST
        self._auth = {"Authorization": f"Bearer {access_token}", "User-Agent": USER_AGENT}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # trust_env: HTTP(S)_PROXY / NO_PROXY are honoured, as the SDK's client did (offices
        # often reach the internet only through a proxy).
        self._session = aiohttp.ClientSession(headers=self._auth, trust_env=True,
                                              connector=aiohttp.TCPConnector(limit=64))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, call: str, path: str, payload: dict[str, Any], headers: dict[str, str]) -> Outcome:
        assert self._session is not None, "LineApi.open() was not called"
        # ASCII escapes (as the SDK sent): a stray lone surrogate cannot make encoding fail.
        data = json.dumps(payload).encode("ascii")
        try:
            async with self._session.post(
                self._api + path, data=data, allow_redirects=False,
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=self.tuning.request_timeout),
            ) as resp:
                if 200 <= resp.status < 300:
                    # Accepted: the answer's body (sent message ids) is not needed, and a failure
                    # while reading it must not turn a delivered message into a retry.
                    return Outcome(sent=True, status=resp.status)
                try:
                    body = await resp.content.read(64 * 1024)
                except (TimeoutError, aiohttp.ClientError, OSError):
                    body = b""
                return outcome_of(resp.status, body, resp.headers)
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what it does not know
            out = classify(exc)
            log.debug("event=line_call_failed call=%s error=%s", call, out.error)
            return out

    async def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> Outcome:
        return await self._post("reply", "/v2/bot/message/reply",
                                {"replyToken": reply_token, "messages": messages, "notificationDisabled": False}, {})

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> Outcome:
        return await self._post("push", "/v2/bot/message/push",
                                {"to": to, "messages": messages, "notificationDisabled": False},
                                {"X-Line-Retry-Key": retry_key})

    async def content(self, message_id: str) -> bytes:
        """Download a photo the resident sent, refusing it as soon as it passes the size cap."""
        assert self._session is not None, "LineApi.open() was not called"
        cap = self.tuning.max_image_bytes
        url = f"{self._data}/v2/bot/message/{quote(message_id, safe='')}/content"
        try:
            async with self._session.get(url, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=self.tuning.content_timeout)) as resp:
                if resp.status != 200:
                    raise ContentError("unavailable", f"HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > cap:
                    raise ContentError("too_large", f"{resp.content_length} bytes")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > cap:
                        raise ContentError("too_large", f"more than {cap} bytes")
                    chunks.append(chunk)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ContentError("unavailable", type(exc).__name__) from exc
        return b"".join(chunks)
