"""The chat flow: one LINE event plus the user's stored state in, ``Effects`` out.

State per user is the open draft (``line_users.draft_id`` → ``line_drafts``): no draft = idle;
a draft without consent = collecting (text, location, photos); with consent = ready to send.
The inbox processes one user's events strictly in order, so reading the state here and writing
it back in the processor's transaction cannot race with another event of the same user.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiosqlite
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from bot import media, messages, postback
from bot.config import BotTuning, now, parse, stamp
from bot.effects import Effects
from bot.line_api import ContentError, LineApi
from bot.submit import Submitter
from meyasubako.domain import Submission
from meyasubako.workflow import MAX_TEXT
from storage import attachments as att_db
from storage import line as line_db
from storage import submissions as subs
from storage.db import Database

log = logging.getLogger("meyasubako.bot.chat")

RECEIPT_RE = re.compile(r"^(?:受付番号[:：]?\s*)?(\d{4})\s*[-‐‑–—―ー−]\s*(\d{6})$")


def normalize_command(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip("。.!！?？")


@dataclass
class Deps:
    db: Database
    api: LineApi
    tuning: BotTuning
    submitter: Submitter
    files_dir: Any
    base_url: str
    section_name: Any  # Callable[[str], str | None]
    analyze: Any       # async (text) -> analysis dict


class Conversation:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    # -- entry point --------------------------------------------------------------------------------
    async def handle(self, user_id: str, event: Event) -> Effects:
        if isinstance(event, FollowEvent):
            return self._follow(user_id, event.follow.is_unblocked)
        if isinstance(event, UnfollowEvent):
            fx = Effects("unfollow")
            fx.write(lambda conn: line_db.set_blocked(conn, user_id, True, stamp(now())))
            return fx
        draft, expired = await self._current_draft(user_id)
        if isinstance(event, PostbackEvent):
            return await self._postback(user_id, event.postback.data, draft, expired)
        if isinstance(event, MessageEvent):
            msg = event.message
            if isinstance(msg, TextMessageContent):
                return await self._text(user_id, msg.text, draft, expired)
            if isinstance(msg, LocationMessageContent):
                return await self._location(user_id, msg, draft, expired)
            if isinstance(msg, ImageMessageContent):
                return await self._image(user_id, msg, draft, expired)
            if isinstance(msg, StickerMessageContent):
                return Effects("sticker", [messages.text(messages.STICKER)])
            return Effects(f"unsupported:{msg.type}", [messages.text(messages.UNSUPPORTED)])
        return Effects(f"ignored:{event.type}")

    # -- state ----------------------------------------------------------------------------------------
    async def _current_draft(self, user_id: str) -> tuple[line_db.Draft | None, line_db.Draft | None]:
        """(open draft, expired draft): a draft left alone past ``draft_ttl`` is not continued."""
        async with self.d.db.read() as conn:
            user = await line_db.get_user(conn, user_id)
            draft = await line_db.get_draft(conn, user.draft_id) if user and user.draft_id else None
        if draft is None or draft.state != "open":
            return None, None
        if parse(draft.updated_at) < now() - timedelta(seconds=self.d.tuning.draft_ttl):
            return None, draft
        return draft, None

    def _discard(self, fx: Effects, user_id: str, draft: line_db.Draft) -> None:
        async def w(conn: aiosqlite.Connection) -> None:
            ts = stamp(now())
            await line_db.update_draft(conn, draft.id, ts, state="cancelled")
            await line_db.set_current_draft(conn, user_id, None, ts)
            fx.delete_files.extend(await att_db.delete_for_draft(conn, draft.id))

        fx.write(w)

    def _new_draft(self, fx: Effects, user_id: str, expired: line_db.Draft | None) -> str:
        """Queue the creation of a draft (discarding an expired one); returns its id."""
        if expired is not None:
            self._discard(fx, user_id, expired)
            fx.replies.append(messages.text(messages.DRAFT_EXPIRED))
        draft_id = secrets.token_urlsafe(12)

        async def w(conn: aiosqlite.Connection) -> None:
            await line_db.create_draft(conn, draft_id, user_id, stamp(now()))

        fx.write(w)
        return draft_id

    # -- events -------------------------------------------------------------------------------------
    def _follow(self, user_id: str, unblocked: bool) -> Effects:
        fx = Effects("follow:unblocked" if unblocked else "follow", [messages.text(messages.GREETING)])
        fx.write(lambda conn: line_db.set_blocked(conn, user_id, False, stamp(now())))
        return fx

    async def _text(self, user_id: str, text: str, draft: line_db.Draft | None,
                    expired: line_db.Draft | None) -> Effects:
        cmd = normalize_command(text)
        if cmd in messages.STATUS_WORDS:
            return await self._status(user_id)
        m = RECEIPT_RE.fullmatch(cmd)
        if m:
            return await self._status(user_id, f"{m.group(1)}-{m.group(2)}")
        if cmd in messages.CANCEL_WORDS:
            return self._cancel(user_id, draft)
        body = text.strip()
        joined = f"{draft.text}\n{body}" if draft and draft.text else body
        if not body:
            return Effects("empty_text", [messages.text(messages.NEED_TEXT)])
        if len(joined) > MAX_TEXT:
            items = messages.draft_items(draft.id, draft.consent) if draft else None
            return Effects("too_long", [messages.text(messages.TOO_LONG.format(limit=MAX_TEXT), items)])
        fx = Effects("draft:append" if draft and draft.text else "draft:new")
        draft_id = draft.id if draft else self._new_draft(fx, user_id, expired)
        consent = draft.consent if draft else None

        async def w(conn: aiosqlite.Connection) -> None:
            await line_db.update_draft(conn, draft_id, stamp(now()), text=joined)

        fx.write(w)
        analysis = await self.d.analyze(joined)
        name = self.d.section_name(analysis.get("section") or "")
        guess = messages.SECTION_GUESS.format(name=name) if name else messages.SECTION_UNKNOWN
        if draft and draft.text:
            ask = messages.ASK_CONSENT_SHORT if consent is None else messages.prompt(consent)
            body = f"{messages.APPENDED}\n{guess}\n\n{ask}"
        else:
            body = f"{messages.DRAFT_STARTED}\n{guess}\n\n{messages.prompt(consent)}"
        fx.replies.append(messages.text(body, messages.draft_items(draft_id, consent)))
        return fx

    async def _location(self, user_id: str, msg: LocationMessageContent, draft: line_db.Draft | None,
                        expired: line_db.Draft | None) -> Effects:
        lat, lon = float(msg.latitude), float(msg.longitude)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return Effects("location:invalid", [messages.text(messages.ERROR)])
        place = (msg.address or msg.title or f"緯度{lat:.5f}、経度{lon:.5f}").strip()[:200]
        fx = Effects("location")
        draft_id = draft.id if draft else self._new_draft(fx, user_id, expired)

        async def w(conn: aiosqlite.Connection) -> None:
            await line_db.update_draft(conn, draft_id, stamp(now()), place=place, lat=lat, lon=lon)

        fx.write(w)
        fx.replies.append(self._after_attach(messages.LOCATION_ADDED.format(place=place), draft, draft_id))
        return fx

    async def _image(self, user_id: str, msg: ImageMessageContent, draft: line_db.Draft | None,
                     expired: line_db.Draft | None) -> Effects:
        tuning = self.d.tuning
        if draft is not None:
            async with self.d.db.read() as conn:
                count = await att_db.count_for_draft(conn, draft.id)
            if count >= tuning.max_images:
                return Effects("image:too_many", [messages.text(
                    messages.TOO_MANY_IMAGES.format(limit=tuning.max_images),
                    messages.draft_items(draft.id, draft.consent))])
        else:
            count = 0
        if msg.content_provider.type != "line":  # an external URL: we never fetch arbitrary hosts
            return Effects("image:external", [messages.text(messages.IMAGE_FAILED)])
        try:
            data = await self.d.api.content(msg.id)
        except ContentError as exc:
            log.warning("event=line_image_failed user=%s reason=%s detail=%s", user_id, exc.reason, exc)
            text = (messages.IMAGE_TOO_LARGE.format(mb=tuning.max_image_bytes // (1024 * 1024))
                    if exc.reason == "too_large" else messages.IMAGE_FAILED)
            return Effects(f"image:{exc.reason}", [messages.text(text)])
        kind = media.sniff(data)
        if kind is None:
            return Effects("image:format", [messages.text(messages.IMAGE_FORMAT)])
        stored = await media.store(self.d.files_dir, data, *kind)
        fx = Effects("image")
        fx.created_files.append(stored.path)
        draft_id = draft.id if draft else self._new_draft(fx, user_id, expired)

        async def w(conn: aiosqlite.Connection) -> None:
            ts = stamp(now())
            await att_db.add_to_draft(conn, draft_id=draft_id, kind="image", mime=stored.mime, size=stored.size,
                                      sha256=stored.sha256, path=stored.path, now=ts)
            await line_db.update_draft(conn, draft_id, ts)

        fx.write(w)
        fx.replies.append(self._after_attach(messages.IMAGE_ADDED.format(n=count + 1), draft, draft_id))
        return fx

    @staticmethod
    def _after_attach(head: str, draft: line_db.Draft | None, draft_id: str) -> dict[str, Any]:
        consent = draft.consent if draft else None
        follow = messages.prompt(consent) if draft and draft.text else messages.NEED_TEXT_NEXT
        return messages.text(f"{head}\n{follow}", messages.draft_items(draft_id, consent))

    def _cancel(self, user_id: str, draft: line_db.Draft | None) -> Effects:
        if draft is None:
            return Effects("cancel:none", [messages.text(messages.NOTHING_TO_CANCEL)])
        fx = Effects("cancel", [messages.text(messages.CANCELLED)])
        self._discard(fx, user_id, draft)
        return fx

    async def _postback(self, user_id: str, data: str, draft: line_db.Draft | None,
                        expired: line_db.Draft | None) -> Effects:
        pb = postback.decode(data)
        if pb is None:
            return Effects("postback:invalid", [messages.text(messages.STALE)])
        if draft is None or pb.draft_id != draft.id:
            return await self._stale(user_id, pb, expired)
        if pb.action == "cancel":
            return self._cancel(user_id, draft)
        if pb.action == "consent":
            consent = pb.value == "yes"
            fx = Effects(f"consent:{pb.value}")

            async def w(conn: aiosqlite.Connection) -> None:
                await line_db.update_draft(conn, draft.id, stamp(now()), consent=consent)

            fx.write(w)
            body = messages.prompt(consent) if draft.text else f"{messages.prompt(consent)}\n{messages.NEED_TEXT_NEXT}"
            fx.replies.append(messages.text(body, messages.draft_items(draft.id, consent)))
            return fx
        return await self.d.submitter.submit(user_id, draft)

    async def _stale(self, user_id: str, pb: postback.Postback, expired: line_db.Draft | None) -> Effects:
        """A button from an earlier draft: say so kindly; a second 送信 gets the same 受付番号."""
        async with self.d.db.read() as conn:
            old = await line_db.get_draft(conn, pb.draft_id)
            sub = await subs.by_id(conn, old.submission_id) if old and old.submission_id else None
        fx = Effects(f"postback:stale:{pb.action}")
        if old is not None and old.user_id == user_id and sub is not None and pb.action in ("send", "consent"):
            fx.outcome = f"postback:already_sent:{pb.action}"
            fx.replies.append(messages.text(messages.ALREADY_SENT.format(receipt_no=sub.receipt_no)))
            return fx
        if expired is not None and expired.id == pb.draft_id:
            self._discard(fx, user_id, expired)
        fx.replies.append(messages.text(messages.STALE))
        return fx

    async def _status(self, user_id: str, receipt_no: str | None = None) -> Effects:
        async with self.d.db.read() as conn:
            if receipt_no is None:
                own: list[Submission] = await line_db.submissions_of(conn, user_id, limit=5)
                return Effects("status:list", [messages.text(messages.status_list(own, self.d.base_url))])
            sub = await subs.by_receipt(conn, receipt_no)
        if sub is None or sub.line_user_id != user_id:  # never reveal anyone else's item, or that it exists
            return Effects("status:not_found",
                           [messages.text(messages.STATUS_NOT_FOUND.format(receipt_no=receipt_no))])
        return Effects("status:one", [messages.text(messages.status_entry(sub, self.d.base_url))])
