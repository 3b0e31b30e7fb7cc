"""Domain types: statuses and their allowed transitions, the records the app passes around, errors.

Storage turns rows into these dataclasses at its boundary; handlers render them; only
``workflow.py`` changes a submission's status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Status(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    APPROVED = "approved"
    PUBLISHED = "published"
    CLOSED = "closed"


# received -> routed -> in_progress -> answered -> approved -> published, side exit closed.
# Back edges exist where a person sends work back: a rejected draft (answered -> in_progress),
# an unpublished item (published -> approved), a re-opened item (closed -> routed).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ROUTED, Status.CLOSED}),
    Status.ROUTED: frozenset({Status.ROUTED, Status.IN_PROGRESS, Status.ANSWERED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.ROUTED, Status.ANSWERED, Status.CLOSED}),
    Status.ANSWERED: frozenset({Status.ROUTED, Status.IN_PROGRESS, Status.ANSWERED, Status.APPROVED, Status.CLOSED}),
    Status.APPROVED: frozenset({Status.IN_PROGRESS, Status.PUBLISHED, Status.CLOSED}),
    Status.PUBLISHED: frozenset({Status.APPROVED, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.ROUTED}),
}

STATUS_LABELS: dict[str, str] = {
    "received": "受付済み",
    "routed": "担当課で確認中",
    "in_progress": "対応中",
    "answered": "回答を作成中",
    "approved": "回答の準備ができました",
    "published": "回答を公開しました",
    "closed": "対応を終了しました",
}

# Why an item was closed without publication (the notice board counts these).
CLOSE_REASONS: dict[str, str] = {
    "private": "非公開希望",
    "pii": "個人情報",
    "duplicate": "重複",
    "out_of_scope": "所管外",
    "mischief": "いたずら",
    "withdrawn": "取下げ（本人の申出）",  # also set when a resident's erasure request ends an open item
}


class Channel(StrEnum):
    WEB = "web"
    LINE = "line"
    OPEN311 = "open311"


CHANNEL_LABELS = {"web": "Webフォーム", "line": "LINE", "open311": "Open311"}


class Role(StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    STAFF = "staff"


ROLE_LABELS = {"admin": "管理者", "approver": "広聴係（決裁者）", "staff": "担当課職員"}


@dataclass(frozen=True)
class Section:
    id: str
    name: str
    unit: str
    scope: str = ""
    deadline_days: int = 10
    active: bool = True


@dataclass(frozen=True)
class PiiSpanRecord:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class Submission:
    id: int
    receipt_no: str
    channel: str
    text: str
    place: str | None
    lat: float | None
    lon: float | None
    contact: str | None
    line_user_id: str | None
    consent: bool
    status: Status
    section: str | None
    suggested_section: str | None
    suggestion: dict[str, Any]
    pii: list[PiiSpanRecord]
    masked_text: str | None
    public_summary: str | None
    close_reason: str | None
    received_at: str
    updated_at: str
    due_at: str | None
    answered_at: str | None
    published_at: str | None
    routed_by: str | None = None  # 'system' or 'user:<name>': who set the section
    assignee: str | None = None
    duplicate_of: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status not in (Status.PUBLISHED, Status.CLOSED)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class NewSubmission:
    """What an intake channel hands to the workflow."""

    channel: Channel
    text: str
    consent: bool
    place: str | None = None
    lat: float | None = None
    lon: float | None = None
    contact: str | None = None
    line_user_id: str | None = None
    client_key: str | None = None  # idempotency: the same key never creates a second submission


@dataclass(frozen=True)
class Receipt:
    submission: Submission
    status_token: str | None  # the private link token; None when the intake was a duplicate
    duplicate: bool = False


@dataclass(frozen=True)
class Event:
    id: int
    submission_id: int
    at: str
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str


@dataclass(frozen=True)
class Answer:
    submission_id: int
    body: str
    state: str
    author: str
    approver: str | None
    created_at: str
    updated_at: str
    review_comment: str | None = None  # why an approver sent the draft back


@dataclass(frozen=True)
class Note:
    """An internal note on a submission: staff only, never public."""

    id: int
    submission_id: int
    at: str
    author: str
    body: str


@dataclass(frozen=True)
class AnswerTemplate:
    id: int
    section: str
    title: str
    body: str
    updated_at: str


@dataclass(frozen=True)
class AuditEntry:
    """A change to users or sections (submission changes are Events)."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    note: str


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    section: str | None
    active: bool
    password_hash: str = field(repr=False, default="")

    def can_see_section(self, section: str | None) -> bool:
        return self.role in (Role.ADMIN, Role.APPROVER) or (section is not None and section == self.section)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


MAX_ANSWER = 8000  # characters of an official answer


def actor_name(user: User | None) -> str:
    return f"user:{user.name}" if user else "system"


# -- errors: each carries a message for people (Japanese) and maps to one HTTP status ----------
class DomainError(Exception):
    http_status = 400

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(detail or message)
        self.message = message


class NotFound(DomainError):
    http_status = 404


class Forbidden(DomainError):
    http_status = 403


class InvalidInput(DomainError):
    http_status = 400


class InvalidTransition(DomainError):
    http_status = 409


class RateLimited(DomainError):
    http_status = 429


class Unavailable(DomainError):
    http_status = 503


def required_text(value: str, *, limit: int, empty: str, label: str) -> str:
    """Stripped ``value``; a Japanese error when it is empty or longer than ``limit`` characters."""
    value = value.strip()
    if not value:
        raise InvalidInput(empty)
    if len(value) > limit:
        raise InvalidInput(f"{label}は{limit}文字以内で入力してください。")
    return value
