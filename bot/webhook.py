"""``POST /line/webhook``: check the signature, store the events, answer at once.

Order matters: size cap → signature over the raw bytes → parse → ONE transaction storing every
event keyed by webhookEventId (a redelivery is a no-op) → 200 → processing in tracked background
tasks. LINE waits about 2 seconds for the answer; nothing slow (NLP, photo downloads, replies)
happens before it.

Parsing is ``json.loads`` plus :func:`check_event`, a hand-written check of the fields that
line-bot-sdk's ``WebhookParser`` requires of every event (it builds an ``UnknownEvent`` from those
when the specific model fails). It accepts and refuses exactly the bodies the SDK's parser does
(``tests/bot/test_webhook_parse.py`` compares the two on generated bodies) at a fraction of the
cost: the SDK's pydantic models are built later, in the background, by the inbox processor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from linebot.v3.webhooks import Event

from bot.config import BotTuning, now, stamp
from meyasubako import keys
from storage import line as line_db
from storage.errors import StorageUnavailable

if TYPE_CHECKING:
    from bot.service import LineBot

log = logging.getLogger("meyasubako.bot.webhook")

EVENT_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")     # LINE sends ULIDs
USER_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")      # U + 32 hex digits in practice
LONE_SURROGATE = re.compile("[\ud800-\udfff]")   # after json.loads, a valid pair is one code point


def _without_lone_surrogates(events: Any, text: str) -> Any:
    """JSON can spell a lone surrogate (``\\ud800``) that no UTF-8 store or tokenizer takes: make it U+FFFD."""
    if "\\u" not in text:
        return events
    dumped = json.dumps(events, ensure_ascii=False)
    return json.loads(LONE_SURROGATE.sub("\ufffd", dumped)) if LONE_SURROGATE.search(dumped) else events


MODES = ("active", "standby")


def check_event(raw: Any) -> bool:
    """Check the fields every webhook event must have; True when the SDK knows the event type.

    Raises ValueError for an event that line-bot-sdk's ``WebhookParser`` refuses (the whole body
    is then a 400, as before). The checks mirror its pydantic fields: ``type`` StrictStr,
    ``timestamp`` StrictInt (not a bool), ``mode`` an EventMode, ``webhookEventId`` StrictStr,
    ``deliveryContext.isRedelivery`` StrictBool, ``source`` absent/null or an object with a string
    ``type``. An event of a known type whose other fields the SDK's model rejects is stored and
    answered as the SDK would have treated it (an unknown event), by the inbox processor.
    """
    if not isinstance(raw, dict):
        raise ValueError("event is not an object")
    etype = raw["type"]  # KeyError, like the SDK's discriminator lookup
    if not isinstance(etype, str):
        raise ValueError("type")
    ts = raw.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise ValueError("timestamp")
    if raw.get("mode") not in MODES or not isinstance(raw.get("webhookEventId"), str):
        raise ValueError("mode or webhookEventId")
    ctx = raw.get("deliveryContext")
    if not isinstance(ctx, dict) or not isinstance(ctx.get("isRedelivery"), bool):
        raise ValueError("deliveryContext")
    source = raw.get("source")
    if source is not None and not (isinstance(source, dict) and isinstance(source.get("type"), str)):
        raise ValueError("source")
    return bool(etype) and Event.get_discriminator_value({"type": etype}) is not None


def signature_ok(secret: str, body: bytes, signature: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, signature.encode("ascii", "replace"))


async def _read_capped(request: web.Request, cap: int) -> bytes | None:
    if request.content_length is not None and request.content_length > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def to_inbox(raw: dict[str, Any], known: bool, tuning: BotTuning) -> line_db.NewInboxEvent | None:
    """The inbox row for one event, or None when it cannot be keyed (no usable webhookEventId)."""
    event_id = raw.get("webhookEventId")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        return None
    etype = str(raw.get("type", "unknown"))[:40]
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    user_id = source.get("userId")
    ctx = raw.get("deliveryContext") if isinstance(raw.get("deliveryContext"), dict) else {}
    redelivery = ctx.get("isRedelivery") is True
    outcome = None
    if raw.get("mode") == "standby":
        outcome = "standby"  # another channel owns the chat right now: do not answer
    elif source.get("type") != "user" or not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        outcome = f"ignored:source:{str(source.get('type'))[:20]}"  # groups and rooms are not a 目安箱
        user_id = user_id if isinstance(user_id, str) and USER_ID.fullmatch(user_id) else None
    elif not known and etype != "message":
        outcome = f"ignored:unknown:{etype}"
    deadline = None
    ts = raw.get("timestamp")
    if isinstance(ts, int) and isinstance(raw.get("replyToken"), str):
        # The token is good for about a minute from the event; count from the earlier of LINE's
        # clock and ours, so a skewed clock or a late redelivery errs towards a push.
        happened = min(datetime.fromtimestamp(ts / 1000, now().tzinfo), now())
        deadline = stamp(happened + timedelta(seconds=tuning.reply_window))
    return line_db.NewInboxEvent(event_id=event_id, user_id=user_id, type=etype, body=raw,
                                 redelivery=redelivery, reply_deadline=deadline, processed_outcome=outcome)


async def webhook(request: web.Request) -> web.StreamResponse:
    bot: LineBot | None = request.app.get(keys.LINE_BOT)
    if bot is None or bot.inbox is None:
        return _plain(503, "LINE is not configured")
    body = await _read_capped(request, bot.tuning.max_body)
    if body is None:
        log.warning("event=line_webhook_too_large")
        return _plain(413, "too large")
    signature = request.headers.get("X-Line-Signature", "")
    if not signature or not signature_ok(bot.channel_secret, body, signature):
        log.warning("event=line_bad_signature present=%s", bool(signature))
        return _plain(400, "bad signature")
    # Counted from here (a signed body is in hand): background processing waits while any is in
    # flight (bot/gate.py), so a slow or unsigned client cannot hold it back.
    gate = bot.gate
    if gate is not None:
        gate.enter()
    try:
        return await _store(request, bot, body)
    finally:
        if gate is not None:
            gate.leave()


async def _store(request: web.Request, bot: LineBot, body: bytes) -> web.StreamResponse:
    """Parse a signed body and store its events in one transaction; 200 once committed."""
    try:
        text = body.decode("utf-8")
        raw_events = _without_lone_surrogates(json.loads(text)["events"], text)
        if not isinstance(raw_events, list):
            raise ValueError("events is not a list")
        known = [check_event(raw) for raw in raw_events]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        # RecursionError: a deeply nested JSON array/object (json.loads gives up); a 400 like any junk.
        log.warning("event=line_webhook_malformed error=%s", str(exc)[:200])
        return _plain(400, "malformed body")
    events = []
    for raw, is_known in zip(raw_events, known, strict=True):
        item = to_inbox(raw, is_known, bot.tuning)
        if item is None:
            log.warning("event=line_event_unkeyed type=%s", str(raw.get("type"))[:40])
        else:
            events.append(item)
    if not events:
        return _plain(200, "OK")  # LINE's "Verify" button sends an empty list
    ts = stamp(now())

    async def job(conn):  # type: ignore[no-untyped-def]
        return await line_db.insert_events(conn, events, ts)

    try:
        new_rows = await request.app[keys.DB].write(job)
    except StorageUnavailable:
        # Not acknowledged, so LINE may redeliver (when redelivery is on); nothing half-stored.
        log.error("event=line_webhook_store_failed events=%d", len(events))
        return _plain(503, "try again")
    for row in new_rows:
        if row.processed_at is None and row.user_id:
            bot.inbox.kick(row.user_id)
    log.info("event=line_webhook events=%d new=%d", len(events), len(new_rows))
    return _plain(200, "OK")
