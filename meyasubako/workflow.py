"""The submission workflow: the one place that changes a submission's status.

Every change is checked against ``domain.TRANSITIONS``, authorized for the acting user, written
together with its event row in one transaction, and logged as one structured line.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from meyasubako import clock, privacy
from meyasubako.domain import (
    CLOSE_REASONS,
    MAX_ANSWER,
    TRANSITIONS,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NewSubmission,
    NotFound,
    Receipt,
    Role,
    Status,
    Submission,
    User,
    actor_name,
    required_text,
)
from meyasubako.nlp_service import NlpService
from meyasubako.staff_actions import StaffActions
from storage import submissions as subs
from storage.db import Database

if TYPE_CHECKING:
    from meyasubako.related import RelatedLists

log = logging.getLogger("meyasubako.workflow")

MAX_TEXT = 4000

# Called inside the transaction that publishes or closes an item with a reply, so that the
# resident's notification is written atomically with the change (the LINE outbox hooks in here).
Notifier = Callable[[aiosqlite.Connection, Submission, str, str], Awaitable[None]]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Workflow(StaffActions):
    def __init__(
        self,
        db: Database,
        nlp: NlpService,
        *,
        now: clock.Clock = clock.jst_now,
        sections: dict[str, int] | None = None,
    ) -> None:
        self.db = db
        self.nlp = nlp
        self.now = now
        self.deadline_days = sections or {}  # section id -> business days to answer
        self.notifiers: list[Notifier] = []
        # Stored related-items lists (meyasubako/related.py); None outside `serve` (CLI, benches):
        # the next serve fills in the lists of what was published meanwhile.
        self.related: RelatedLists | None = None

    # -- helpers ---------------------------------------------------------------------------------
    async def _load(self, conn: aiosqlite.Connection, receipt_no: str, *, lock: bool = True) -> Submission:
        """``lock``: in a write job that changes the item (the default); False on a read connection."""
        sub = await subs.by_receipt(conn, receipt_no, lock=lock)
        if sub is None:
            raise NotFound("該当する受付番号が見つかりません。")
        return sub

    async def _transition(
        self,
        conn: aiosqlite.Connection,
        sub: Submission,
        to: Status,
        *,
        actor: str,
        action: str,
        note: str = "",
        fields: dict[str, Any] | None = None,
    ) -> None:
        if to not in TRANSITIONS[sub.status]:
            raise InvalidTransition(
                "この操作は現在の状態ではできません。",
                detail=f"{sub.receipt_no}: {sub.status} -> {to} not allowed",
            )
        now = clock.iso(self.now())
        await subs.update_fields(conn, sub.id, {"status": str(to), "updated_at": now, **(fields or {})})
        await subs.add_event(
            conn, sub.id, at=now, actor=actor, action=action, from_status=str(sub.status), to_status=str(to), note=note
        )
        log.info(
            "event=status_change receipt=%s from=%s to=%s action=%s actor=%s",
            sub.receipt_no, sub.status, to, action, actor,
        )

    @staticmethod
    def authorize(user: User, sub: Submission, *, approver_only: bool = False) -> None:
        if not user.active:
            raise Forbidden("このアカウントは無効です。")
        if approver_only and user.role == Role.STAFF:
            raise Forbidden("この操作は広聴係（決裁者）のみが行えます。")
        if not user.can_see_section(sub.section):
            raise NotFound("該当する受付番号が見つかりません。")  # do not reveal other sections' items

    def _due(self, section: str) -> str:
        days = self.deadline_days.get(section, 10)
        return clock.add_business_days(self.now().date(), days).isoformat()

    # -- intake ----------------------------------------------------------------------------------
    async def receive(self, new: NewSubmission, *, section: str | None = None) -> Receipt:
        """Store a resident's submission and route it; returns once it is durable on disk.

        ``section``: a section the sender chose explicitly (an Open311 ``service_code``); it wins
        over the automatic routing when it is a known section, and staff can still re-route.
        """
        chosen = section if section in self.deadline_days else None
        text = new.text.strip()
        if not text:
            raise InvalidInput("ご意見の本文を入力してください。")
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"本文は{MAX_TEXT}文字以内で入力してください（現在{len(text)}文字）。")
        if text != new.text:
            new = NewSubmission(**{**new.__dict__, "text": text})
        analysis = await self.nlp.analyze(text)
        token = secrets.token_urlsafe(24)
        now_dt = self.now()
        now = clock.iso(now_dt)
        section = chosen or analysis["section"]
        known = section in self.deadline_days
        due = self._due(section) if known else None

        async def job(conn: aiosqlite.Connection) -> Receipt:
            if new.client_key:
                existing = await subs.by_client_key(conn, new.client_key)
                if existing is not None:
                    return Receipt(existing, None, duplicate=True)
            receipt_no = await subs.next_receipt_no(conn, now_dt.year)
            sub = await subs.insert(
                conn, new, receipt_no=receipt_no, token_hash=token_hash(token), now=now, analysis=analysis
            )
            await subs.add_event(conn, sub.id, at=now, actor="resident", action="receive", to_status="received",
                                 note=str(new.channel))
            if known:
                reason = "、".join(analysis["reasons"][:5])
                note = f"自動振り分け（根拠: {reason or 'なし'}）"
                if chosen:
                    note = f"投稿者が指定した担当へ振り分け（自動判定: {analysis['section']}）"
                await self._transition(
                    conn, sub, Status.ROUTED, actor="system", action="auto_route", note=note,
                    fields={"section": section, "due_at": due, "routed_by": "system"},
                )
                sub = await subs.by_id(conn, sub.id)
            return Receipt(sub, token)

        receipt = await self.db.write(job)
        if not receipt.duplicate:
            log.info(
                "event=received receipt=%s channel=%s section=%s confident=%s",
                receipt.submission.receipt_no, new.channel, section, analysis["confident"],
            )
            await self.nlp.index("staff", receipt.submission.receipt_no, analysis["terms"])
        return receipt

    # -- staff actions ---------------------------------------------------------------------------
    async def route(self, receipt_no: str, section: str, user: User, note: str = "") -> Submission:
        if section not in self.deadline_days:
            raise InvalidInput("担当課の指定が正しくありません。")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            if user.role == Role.STAFF and section != sub.section:
                # Staff may send an item on only as "not ours": it goes to 広聴 to decide.
                if section != "service":
                    raise Forbidden("他課への振り替えは広聴係が行います。「所管外として広聴係へ戻す」を使ってください。")
            if sub.status in (Status.APPROVED, Status.PUBLISHED):
                raise InvalidTransition("決裁・公開後の項目は担当課を変更できません。")
            action = "reroute" if sub.section and sub.section != section else "route"
            await self._transition(
                conn, sub, Status.ROUTED, actor=actor_name(user), action=action,
                note=f"{sub.section or '未設定'} → {section}" + (f"：{note}" if note else ""),
                fields={"section": section, "due_at": self._due(section), "routed_by": actor_name(user)},
            )
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def save_answer(self, receipt_no: str, body: str, user: User) -> Submission:
        body = required_text(body, limit=MAX_ANSWER, empty="回答文を入力してください。", label="回答文")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            now = clock.iso(self.now())
            await subs.upsert_answer(conn, sub.id, body=body, state="submitted", author=actor_name(user), now=now)
            await subs.set_answer_state(conn, sub.id, state="submitted", approver=None, now=now)
            await self._transition(
                conn, sub, Status.ANSWERED, actor=actor_name(user), action="answer",
                fields={"answered_at": now},
            )
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def publish(self, receipt_no: str, summary: str, user: User, *, pii_confirmed: bool = False) -> Submission:
        """Publish the 要旨 with the approved answer on the notice board.

        An item still waiting for 決裁 (``answered``) is approved first, by the same approver, as
        two events; so the approver's one click is still an explicit approval on the record.
        """
        summary = required_text(summary, limit=MAX_TEXT, empty="公開する要旨を入力してください。", label="要旨")
        found = await self.nlp.find_pii(summary)
        if found and not pii_confirmed:
            kinds = "、".join(sorted({p.type for p in found}))
            raise InvalidInput(
                f"要旨に個人情報の可能性がある箇所が残っています（{kinds}）。マスキングするか、"
                "問題がないことを確認して「確認済み」にチェックしてください。"
            )

        async def job(conn: aiosqlite.Connection) -> tuple[Submission, str]:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub, approver_only=True)
            if not sub.consent:
                raise InvalidInput("投稿者が公開に同意していないため、公開できません。")
            answer = await subs.answer_for(conn, sub.id)
            if answer is None or answer.state not in ("submitted", "approved"):
                raise InvalidInput("決裁に回された回答がないため、公開できません。")
            now = clock.iso(self.now())
            actor = actor_name(user)
            if sub.status == Status.ANSWERED:
                await subs.set_answer_state(conn, sub.id, state="approved", approver=actor, now=now)
                await self._transition(conn, sub, Status.APPROVED, actor=actor, action="approve")
                sub = await subs.by_id(conn, sub.id)
            note = "個人情報の検出箇所を確認済み" if found else ""
            await self._transition(
                conn, sub, Status.PUBLISHED, actor=actor, action="publish", note=note,
                fields={"public_summary": summary, "published_at": now},
            )
            sub = await subs.by_id(conn, sub.id)
            for notify in self.notifiers:
                await notify(conn, sub, "published", answer.body)
            return sub, answer.body

        sub, answer_body = await self.db.write(job)
        public_terms = await self.nlp.terms(summary + "\n" + answer_body)

        async def index_job(conn: aiosqlite.Connection) -> None:
            await subs.set_public_terms(conn, sub.id, public_terms)

        await self.db.write(index_job)
        await self.nlp.index("public", sub.receipt_no, public_terms)
        if self.related is not None:
            await self.related.published(sub.id)
        return sub

    async def close(
        self, receipt_no: str, reason: str, user: User, note: str = "", *, reply: bool = False,
        duplicate_of: str | None = None,
    ) -> Submission:
        """Close without publication. With ``reply`` the approved answer goes to the resident
        (LINE push through the notifiers; the status page shows an approved answer)."""
        if reason not in CLOSE_REASONS:
            raise InvalidInput("終了理由を選んでください。")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            answer = await subs.answer_for(conn, sub.id) if reply else None
            if reply and (answer is None or answer.state != "approved"):
                raise InvalidInput("回答して終了するには、決裁済みの回答が必要です。")
            fields: dict[str, Any] = {"close_reason": reason, "published_at": None}
            if duplicate_of:
                fields["duplicate_of"] = duplicate_of
            await self._transition(
                conn, sub, Status.CLOSED, actor=actor_name(user), action="close_reply" if reply else "close",
                note=CLOSE_REASONS[reason] + (f"（{duplicate_of} と重複）" if duplicate_of else "")
                + (f"：{note}" if note else ""),
                fields=fields,
            )
            await subs.set_public_terms(conn, sub.id, None)
            sub = await subs.by_id(conn, sub.id)
            if answer is not None:
                for notify in self.notifiers:
                    await notify(conn, sub, "closed", answer.body)
            return sub

        sub = await self.db.write(job)
        await self.nlp.unindex("public", sub.receipt_no)
        if self.related is not None:
            await self.related.withdrawn(sub.id)
        return sub

    # -- personal data (issue 9) -------------------------------------------------------------------
    async def erase(self, receipt_no: str, *, reason: str, actor: str, files_dir: Path,
                    note: str = "") -> privacy.Erasure:
        """Erase one item's personal data (``reason``: 'retention' or 'request').

        A resident's request also ends an item still being handled (closed as 取下げ): nothing is
        left to answer. The status is unchanged otherwise; the published 要旨 and answer stay.
        """
        if reason not in privacy.REASONS:
            raise InvalidInput("削除の理由が正しくありません。")

        async def job(conn: aiosqlite.Connection) -> privacy.Erasure:
            sub = await self._load(conn, receipt_no)
            now = clock.iso(self.now())
            if reason == "request" and sub.status not in (Status.PUBLISHED, Status.CLOSED):
                await self._transition(conn, sub, Status.CLOSED, actor=actor, action="close",
                                       note=CLOSE_REASONS["withdrawn"], fields={"close_reason": "withdrawn"})
            return await privacy.erase_in_tx(conn, sub.id, reason=reason, actor=actor, now=now,
                                             files_dir=files_dir, note=note)

        result = await self.db.write(job)
        if not result.already:
            await self.nlp.unindex("staff", receipt_no)
            log.info("event=erase receipt=%s reason=%s actor=%s fields=%s files=%d", receipt_no, reason, actor,
                     ",".join(result.fields), len(result.files))
        return result
