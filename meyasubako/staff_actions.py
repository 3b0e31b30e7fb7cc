"""Staff actions of the workflow beyond intake: drafts, 決裁 (approve/reject), unpublish, batch
publishing, assignment, internal notes, duplicates and answer templates.

A mixin of ``workflow.Workflow`` (which supplies ``db``, ``nlp``, ``now``, ``notifiers``, ``_load``,
``_transition`` and ``authorize``), kept in its own module so each stays readable. Every action
writes an event row: status changes through ``_transition``, the rest through ``_record``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import aiosqlite

from meyasubako import clock
from meyasubako.domain import (
    MAX_ANSWER,
    AnswerTemplate,
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    Role,
    Status,
    Submission,
    User,
    actor_name,
    required_text,
)
from storage import staff as staff_db
from storage import submissions as subs
from storage import users as users_db

if TYPE_CHECKING:
    from meyasubako.workflow import Workflow

log = logging.getLogger("meyasubako.workflow")

MAX_NOTE = 2000
MAX_COMMENT = 2000
RECEIPT_RE = re.compile(r"^\d{4}-\d{6}$")


def _jdate(iso: str) -> str:
    """'2026-11-30...' -> '2026年11月30日'."""
    y, m, d = iso[:10].split("-")
    return f"{int(y)}年{int(m)}月{int(d)}日"


def fill_template(tpl: AnswerTemplate, sub: Submission, section_name: str, unit: str) -> str:
    """Replace the known placeholders; anything else in braces is left for the writer to see."""
    values = {
        "{受付番号}": sub.receipt_no,
        "{受付日}": _jdate(sub.received_at),
        "{課名}": section_name,
        "{担当部署}": unit,
        "{回答期限}": _jdate(sub.due_at) if sub.due_at else "",
    }
    body = tpl.body
    for key, val in values.items():
        body = body.replace(key, val)
    return body


class StaffActions:
    async def _record(
        self: Workflow, conn: aiosqlite.Connection, sub: Submission, *, actor: str, action: str, note: str = ""
    ) -> None:
        """An audit event for an action that does not change the status."""
        await subs.add_event(conn, sub.id, at=clock.iso(self.now()), actor=actor, action=action, note=note)
        log.info("event=staff_action receipt=%s action=%s actor=%s", sub.receipt_no, action, actor)

    # -- answers --------------------------------------------------------------------------------
    async def save_draft(self: Workflow, receipt_no: str, body: str, user: User,
                         *, template: AnswerTemplate | None = None) -> Submission:
        """Keep a draft without sending it to 決裁. Starting work moves a routed item to in_progress;
        editing a draft already waiting for 決裁 takes it back (in_progress)."""
        body = required_text(body, limit=MAX_ANSWER, empty="回答文を入力してください。", label="回答文")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            if sub.status not in (Status.ROUTED, Status.IN_PROGRESS, Status.ANSWERED):
                raise InvalidTransition("この状態では回答を編集できません。")
            now = clock.iso(self.now())
            await subs.upsert_answer(conn, sub.id, body=body, state="draft", author=actor_name(user), now=now)
            note = f"テンプレート「{template.title}」を使用" if template else ""
            action = "use_template" if template else "draft"
            if sub.status == Status.IN_PROGRESS:
                await self._record(conn, sub, actor=actor_name(user), action=action, note=note)
            else:
                await self._transition(conn, sub, Status.IN_PROGRESS, actor=actor_name(user), action=action, note=note)
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def approve(self: Workflow, receipt_no: str, user: User) -> Submission:
        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub, approver_only=True)
            answer = await subs.answer_for(conn, sub.id)
            if sub.status != Status.ANSWERED or answer is None or answer.state != "submitted":
                raise InvalidTransition("決裁待ちの回答がありません。")
            await subs.set_answer_state(conn, sub.id, state="approved", approver=actor_name(user),
                                        now=clock.iso(self.now()))
            await self._transition(conn, sub, Status.APPROVED, actor=actor_name(user), action="approve")
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def reject(self: Workflow, receipt_no: str, comment: str, user: User) -> Submission:
        comment = required_text(comment, limit=MAX_COMMENT, empty="差し戻しの理由を入力してください。",
                                label="差し戻しの理由")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub, approver_only=True)
            answer = await subs.answer_for(conn, sub.id)
            if sub.status not in (Status.ANSWERED, Status.APPROVED) or answer is None:
                raise InvalidTransition("差し戻せる回答がありません。")
            await subs.set_answer_state(conn, sub.id, state="rejected", approver=actor_name(user),
                                        now=clock.iso(self.now()), review_comment=comment)
            await self._transition(conn, sub, Status.IN_PROGRESS, actor=actor_name(user), action="reject", note=comment)
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def unpublish(self: Workflow, receipt_no: str, reason: str, user: User) -> Submission:
        reason = required_text(reason, limit=MAX_COMMENT, empty="公開を取り消す理由を入力してください。", label="理由")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub, approver_only=True)
            if sub.status != Status.PUBLISHED:
                raise InvalidTransition("公開中の項目ではありません。")
            await self._transition(conn, sub, Status.APPROVED, actor=actor_name(user), action="unpublish", note=reason,
                                   fields={"published_at": None})
            await subs.set_public_terms(conn, sub.id, None)
            return await subs.by_id(conn, sub.id)

        sub = await self.db.write(job)
        await self.nlp.unindex("public", sub.receipt_no)
        if self.related is not None:
            await self.related.withdrawn(sub.id)
        return sub

    async def publish_batch(self: Workflow, receipt_nos: list[str], user: User) -> tuple[list[str], dict[str, str]]:
        """Publish many approved items with their saved 要旨 (or the masked text). The PII guard runs
        for each without confirmation, so an item whose text still shows PII is refused, not published."""
        if user.role == Role.STAFF:
            raise Forbidden("この操作は広聴係（決裁者）のみが行えます。")
        done: list[str] = []
        failed: dict[str, str] = {}
        for no in receipt_nos:
            try:
                async with self.db.read() as conn:
                    sub = await self._load(conn, no, lock=False)
                self.authorize(user, sub, approver_only=True)
                if sub.status != Status.APPROVED:
                    raise InvalidTransition("決裁済みではありません。")
                await self.publish(no, sub.public_summary or sub.masked_text or "", user)
                done.append(no)
            except DomainError as exc:
                failed[no] = exc.message
        log.info("event=publish_batch actor=%s published=%d refused=%d", user.name, len(done), len(failed))
        return done, failed

    # -- triage ----------------------------------------------------------------------------------
    async def assign(self: Workflow, receipt_no: str, assignee: str, user: User) -> Submission:
        """Assign to a person who may see the item (its section's staff or 広聴); '' un-assigns."""
        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            if assignee:
                target = await users_db.by_name(conn, assignee)
                if target is None or not target.active or not target.can_see_section(sub.section):
                    raise InvalidInput("この項目を担当できない職員です。")
            await subs.update_fields(conn, sub.id, {"assignee": assignee or None,
                                                     "updated_at": clock.iso(self.now())})
            await self._record(conn, sub, actor=actor_name(user), action="assign",
                               note=f"担当者: {assignee}" if assignee else "担当者の割り当てを解除")
            return await subs.by_id(conn, sub.id)

        return await self.db.write(job)

    async def add_note(self: Workflow, receipt_no: str, body: str, user: User) -> Submission:
        body = required_text(body, limit=MAX_NOTE, empty="メモを入力してください。", label="メモ")

        async def job(conn: aiosqlite.Connection) -> Submission:
            sub = await self._load(conn, receipt_no)
            self.authorize(user, sub)
            await staff_db.add_note(conn, sub.id, at=clock.iso(self.now()), author=actor_name(user), body=body)
            await self._record(conn, sub, actor=actor_name(user), action="note", note="内部メモを追加")
            return sub

        return await self.db.write(job)

    async def mark_duplicate(self: Workflow, receipt_no: str, original: str, user: User) -> Submission:
        original = original.strip()
        if not RECEIPT_RE.match(original):
            raise InvalidInput("重複元の受付番号を「2026-000123」の形で入力してください。")
        if original == receipt_no:
            raise InvalidInput("自分自身を重複元にはできません。")
        async with self.db.read() as conn:
            target = await subs.by_receipt(conn, original)
        if target is None or not user.can_see_section(target.section):
            raise InvalidInput("重複元の受付番号が見つかりません。")
        return await self.close(receipt_no, "duplicate", user, duplicate_of=original)
