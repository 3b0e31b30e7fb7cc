"""The LINE Messaging API through line-bot-sdk v3's async client, with timeouts and classified outcomes.

Nothing here retries: it makes one call and says what happened (sent, retry later, give up, reply
token rejected), and the outbox sender decides. Every call carries ``_request_timeout`` because
the SDK's default is 300 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException
from pydantic import ValidationError

from bot.config import BotTuning

log = logging.getLogger("meyasubako.bot.api")


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
        import time

        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _message_of(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return str(json.loads(body).get("message", body))[:300]
        except (ValueError, AttributeError):
            return body[:300]
    return ""


def classify(exc: BaseException) -> Outcome:
    """Turn what the SDK raised into an Outcome."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        msg = _message_of(exc.body)
        err = f"HTTP {status}: {msg}" if msg else f"HTTP {status}"
        if status == 409:
            return Outcome(sent=True, status=status, already_accepted=True, error=err)
        if status == 429 or status >= 500:
            return Outcome(sent=False, status=status, retry=True, retry_after=_retry_after(exc.headers), error=err)
        if status == 400 and "reply token" in msg.lower():
            return Outcome(sent=False, status=status, invalid_reply_token=True, error=err)
        return Outcome(sent=False, status=status or None, error=err)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Outcome(sent=False, retry=True, error="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Outcome(sent=False, retry=True, error=f"connection: {type(exc).__name__}: {exc}"[:300])
    raise exc


class LineApi:
    """One HTTP session for the process; open in a cleanup_ctx, close at shutdown."""

    def __init__(self, access_token: str, host: str | None, tuning: BotTuning) -> None:
        self.tuning = tuning
        # host=None lets the SDK use LINE's hosts (api.line.me, api-data.line.me for content);
        # a host (a local double) receives every call.
        self._config = Configuration(access_token=access_token, host=host.rstrip("/") if host else None)
        self._client: AsyncApiClient | None = None
        self.messaging: AsyncMessagingApi | None = None
        self.blob: AsyncMessagingApiBlob | None = None

    async def open(self) -> None:
        self._client = AsyncApiClient(self._config)
        self.messaging = AsyncMessagingApi(self._client)
        self.blob = AsyncMessagingApiBlob(self._client)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> Outcome:
        assert self.messaging is not None
        req = ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages})
        try:
            resp = await self.messaging.reply_message_with_http_info(
                req, _request_timeout=self.tuning.request_timeout
            )
        except ValidationError as exc:  # a 2xx whose body the SDK could not read: LINE took it
            log.warning("event=line_response_unreadable call=reply error=%s", str(exc)[:200])
            return Outcome(sent=True, status=200)
        except Exception as exc:  # noqa: BLE001 - classify() re-raises what it does not know
            return classify(exc)
        return Outcome(sent=True, status=resp.status_code)

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> Outcome:
        assert self.messaging is not None
        req = PushMessageRequest.from_dict({"to": to, "messages": messages})
        try:
            resp = await self.messaging.push_message_with_http_info(
                req, x_line_retry_key=retry_key, _request_timeout=self.tuning.request_timeout
            )
        except ValidationError as exc:
            log.warning("event=line_response_unreadable call=push error=%s", str(exc)[:200])
            return Outcome(sent=True, status=200)
        except Exception as exc:  # noqa: BLE001
            return classify(exc)
        return Outcome(sent=True, status=resp.status_code)

    async def content(self, message_id: str) -> bytes:
        """Download a photo the resident sent.

        The SDK buffers the whole body (its ``_preload_content=False`` path is broken in 3.x), so
        the size cap is enforced on what arrived; LINE's own limit on image messages bounds it.
        """
        assert self.blob is not None
        try:
            data = await self.blob.get_message_content(message_id, _request_timeout=self.tuning.content_timeout)
        except ApiException as exc:
            raise ContentError("unavailable", f"HTTP {exc.status}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ContentError("unavailable", type(exc).__name__) from exc
        if len(data) > self.tuning.max_image_bytes:
            raise ContentError("too_large", f"{len(data)} bytes")
        return bytes(data)
