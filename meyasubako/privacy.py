"""What erasing and disclosing a resident's personal data means (個人情報保護法, 文書管理).

Erasure keeps the row, its receipt number, section, status, dates, the published masked 要旨,
the official answer and the audit trail (events); it drops the original text, contact, LINE user
id, place and coordinates, PII spans, the machine-masked draft, search terms, stored files
(photos) and rows in tables linked to the submission, pending LINE messages, and — when no other
item of that LINE user remains — the LINE user's own rows. Event notes that may quote the
resident (free text written by staff, routing reasons taken from the text) are reduced to their
fixed part. An ``erase`` event records who and why, never what.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from meyasubako.domain import CHANNEL_LABELS, CLOSE_REASONS, dumps
from storage import retention as rdb
from storage import submissions as subs

log = logging.getLogger("meyasubako.privacy")

REASONS = {"retention": "保存期間満了", "request": "本人の請求"}
PLACEHOLDER = {"retention": "（保存期間満了により削除）", "request": "（本人の請求により削除）"}
_SAFE_NOTES = set(CHANNEL_LABELS) | set(CLOSE_REASONS.values()) | {"個人情報の検出箇所を確認済み"}
FIELD_LABELS = {
    "text": "原文", "contact": "連絡先", "line_user_id": "LINEユーザーID", "place": "場所", "coords": "位置情報",
    "pii": "個人情報の検出結果", "masked_text": "マスキング案",
}


@dataclass
class Erasure:
    receipt_no: str
    fields: list[str] = field(default_factory=list)  # which kinds of data were present and erased
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    files: list[str] = field(default_factory=list)  # stored files removed (names relative to files dir)
    already: bool = False

    def summary(self) -> str:
        parts = [FIELD_LABELS[f] for f in self.fields]
        parts += [f"{t} {n}件" for t, n in sorted(self.rows.items()) if n]
        if self.files:
            parts.append(f"ファイル{len(self.files)}件")
        return "、".join(parts) or "削除対象なし"


def present_fields(row: dict[str, Any]) -> list[str]:
    """Which kinds of personal data a submission row still holds (keys of FIELD_LABELS)."""
    present = {
        "text": bool(row["text"]), "contact": bool(row["contact"]), "line_user_id": bool(row["line_user_id"]),
        "place": bool(row["place"]), "coords": row["lat"] is not None or row["lon"] is not None,
        "pii": row["pii_json"] not in (None, "", "[]"), "masked_text": bool(row["masked_text"]),
    }
    return [k for k, v in present.items() if v]


def scrub_note(action: str, note: str) -> str:
    """The part of an event note that cannot contain the resident's data."""
    if not note or note in _SAFE_NOTES:
        return note
    if action == "auto_route":
        return "自動振り分け"  # the reasons are words from the resident's text
    head = note.split("：", 1)[0]  # staff memos follow a full-width colon
    if action in ("route", "reroute"):
        return head if " → " in head else ""  # "road → park": section ids only
    if action == "close" and head in CLOSE_REASONS.values():
        return head
    return ""  # free text: may quote the resident


def _files_in(rows: list[dict[str, Any]], files_dir: Path) -> list[Path]:
    """Stored files that rows of a linked table refer to (any text value naming a file there)."""
    root = files_dir.resolve()
    found: list[Path] = []
    for row in rows:
        for value in row.values():
            if not isinstance(value, str) or not value or len(value) > 1024 or "\x00" in value:
                continue
            try:
                p = (root / value).resolve()
            except (OSError, ValueError):
                continue
            if p != root and root in p.parents and p.is_file():
                found.append(p)
    return found


async def erase_in_tx(conn: aiosqlite.Connection, sub_id: int, *, reason: str, actor: str, now: str,
                      files_dir: Path, note: str = "",
                      tables: tuple[list[str], list[tuple[str, str]]] | None = None) -> Erasure:
    """Erase one submission's personal data. Runs inside the writer's transaction.

    ``tables``: the result of ``storage.retention.linked_tables`` when erasing many items at once.
    """
    row = await rdb.submission_row(conn, sub_id)
    assert row is not None
    result = Erasure(row["receipt_no"])
    if row["erased_at"]:
        result.already = True
        return result
    result.fields = present_fields(row)
    published = row["status"] == "published" and (row["public_summary"] or "").strip()
    text = row["public_summary"] if published else PLACEHOLDER[reason]
    suggestion = json.loads(row["suggestion_json"] or "{}")
    suggestion.pop("reasons", None)  # words taken from the text
    await rdb.blank_submission(conn, sub_id, text=text, suggestion_json=dumps(suggestion),
                               token_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(), now=now)
    for ev in await rdb.events_rows(conn, sub_id):
        scrubbed = scrub_note(ev["action"], ev["note"])
        if scrubbed != ev["note"]:
            await rdb.set_event_note(conn, ev["id"], scrubbed)
    per_sub, per_line = tables or await rdb.linked_tables(conn)
    doomed: list[Path] = []
    for table in per_sub:
        rows = await rdb.rows_where(conn, table, "submission_id", sub_id)
        doomed += _files_in(rows, files_dir)
        result.rows[table] = await rdb.delete_where(conn, table, "submission_id", sub_id)
    result.rows["outbox"] = await rdb.delete_outbox(conn, sub_id=sub_id)
    line_user = row["line_user_id"]
    if line_user and await rdb.live_submissions_of_line_user(conn, line_user) == 0:
        # The LINE user's own rows (follow state, conversation) go with their last item.
        for table, n in (await _forget_line_user(conn, line_user, per_line, doomed, files_dir)).items():
            result.rows[table] = result.rows.get(table, 0) + n
    root = files_dir.resolve()
    result.files = [p.relative_to(root).as_posix() for p in dict.fromkeys(doomed)]
    await subs.add_event(conn, sub_id, at=now, actor=actor, action="erase",
                         note=f"{REASONS[reason]}により個人情報を削除（{result.summary()}）" + (f"：{note}" if note else ""))
    # Files go last, inside the job: if the transaction fails afterwards a re-run finishes the
    # erasure, whereas deleting after the commit could leave a photo behind on a crash.
    _unlink_all(doomed, files_dir)
    return result


async def _forget_line_user(conn: aiosqlite.Connection, line_user: str, per_line: list[tuple[str, str]],
                            doomed: list[Path], files_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, column in per_line:
        rows = await rdb.rows_where(conn, table, column, line_user)
        doomed += _files_in(rows, files_dir)
        counts[table] = await rdb.delete_where(conn, table, column, line_user)
    counts["outbox"] = await rdb.delete_outbox(conn, recipient=line_user)
    return counts


def _unlink_all(doomed: list[Path], files_dir: Path) -> list[str]:
    root = files_dir.resolve()
    removed: list[str] = []
    for p in dict.fromkeys(doomed):
        try:
            p.unlink()
            removed.append(p.relative_to(root).as_posix())
        except FileNotFoundError:
            pass
    return removed


async def forget_line_user_in_tx(conn: aiosqlite.Connection, line_user: str, files_dir: Path) -> dict[str, int]:
    """Delete a LINE user's own rows (when the resident asked by LINE user id, even with no items)."""
    _, per_line = await rdb.linked_tables(conn)
    doomed: list[Path] = []
    counts = await _forget_line_user(conn, line_user, per_line, doomed, files_dir)
    counts["files"] = len(_unlink_all(doomed, files_dir))
    return counts


async def disclosure(conn: aiosqlite.Connection, sub_ids: list[int], line_user_id: str | None) -> dict[str, Any]:
    """Everything stored about one resident, as a JSON-ready dict (開示)."""
    per_sub, per_line = await rdb.linked_tables(conn)
    items: list[dict[str, Any]] = []
    for sid in sub_ids:
        row = await rdb.submission_row(conn, sid)
        if row is None:
            continue
        item = {k: row[k] for k in (
            "receipt_no", "channel", "text", "place", "lat", "lon", "contact", "line_user_id", "consent", "status",
            "section", "close_reason", "received_at", "updated_at", "due_at", "answered_at", "published_at",
            "public_summary", "erased_at")}
        item["consent"] = bool(item["consent"])
        item["pii"] = json.loads(row["pii_json"] or "[]")
        item["answer"] = await rdb.answer_row(conn, sid)
        # Staff names are the city's internal record; the resident sees that staff acted, and when.
        item["history"] = [
            {"at": e["at"], "action": e["action"], "from_status": e["from_status"], "to_status": e["to_status"],
             "by": "職員" if e["actor"].startswith("user:") else e["actor"], "note": e["note"]}
            for e in await rdb.events_rows(conn, sid)
        ]
        item["linked"] = {t: rows for t in per_sub if (rows := await rdb.rows_where(conn, t, "submission_id", sid))}
        item["messages"] = await rdb.outbox_rows(conn, sub_id=sid)
        items.append(item)
    out: dict[str, Any] = {"submissions": items}
    if line_user_id:
        out["line_user"] = {
            "line_user_id": line_user_id,
            "tables": {t: rows for t, c in per_line if (rows := await rdb.rows_where(conn, t, c, line_user_id))},
            "messages": [m for m in await rdb.outbox_rows(conn, recipient=line_user_id)
                         if m["id"] not in {x["id"] for i in items for x in i["messages"]}],
        }
    return out
